"""Token-aware chunking: a recursive splitter, sized by the embedder's token counter."""

from infrastructure.chunking.recursive import RecursiveTokenChunker

__all__ = ["RecursiveTokenChunker"]
