"""What is embedded for a chunk is its context line and its text; vectors are reused by that."""

from __future__ import annotations

from infrastructure.chunking import RecursiveTokenChunker

from .conftest import World

TEXT = "Chunks are written in one transaction.\n\nReaders never see half a document."


def contextual_world() -> World:
    world = World()
    world.chunker.inner = RecursiveTokenChunker(  # type: ignore[assignment]
        max_tokens=32,
        overlap_tokens=0,
        token_counter=world.embedder.token_counter,
        embed_context=True,
    )
    return world


def test_the_title_is_embedded_before_the_text_and_the_content_is_stored_as_is() -> None:
    world = contextual_world()
    document = world.submit(TEXT, filename="design notes.txt")

    world.process(document)

    (stored,) = world.db.chunks[document.id]
    assert world.embedder.embedded_texts == [f"design notes\n{TEXT}"]
    assert stored.chunk.text == TEXT
    assert stored.chunk.context == "design notes"


def test_the_same_text_under_another_title_is_embedded_again() -> None:
    world = contextual_world()
    world.process(world.submit(TEXT, filename="design notes.txt"))
    world.process(world.submit(TEXT, filename="copy of design notes.txt"))
    world.process(world.submit(TEXT, filename="design notes.txt"))

    assert world.embedder.embedded_texts == [
        f"design notes\n{TEXT}",
        f"copy of design notes\n{TEXT}",
    ]
