"""Finding stored chunks for a question."""

from application.usecases.search.search_chunks import SearchChunks, SearchQuery

__all__ = ["SearchChunks", "SearchQuery"]
