"""Postgres text search reads a question as its stemmed words, any of which may match."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import Engine

from infrastructure.db import SqlAlchemyChunkSearch, SqlAlchemyUnitOfWorkFactory
from tests.contracts.test_chunk_search_contract import axis, store, texts
from tests.fixtures.defaults import DEFAULTS

PASSAGES = [
    ("A job that fails for a transient reason is retried with exponential backoff.", axis(0)),
    ("Chunks are written to Postgres in one transaction.", axis(2)),
    ("The queue lives in Redis.", axis(4)),
]


def search(db_engine: Engine) -> SqlAlchemyChunkSearch:
    return SqlAlchemyChunkSearch(db_engine, text_search_language=DEFAULTS.text_search_language)


def test_a_question_finds_the_passage_that_lacks_some_of_its_words(db_engine: Engine) -> None:
    workspace = uuid4()
    store(SqlAlchemyUnitOfWorkFactory(db_engine), PASSAGES, workspace_id=workspace)

    found = search(db_engine).by_text(workspace, "How are failing jobs retried by the worker?", 5)

    assert texts(found) == [PASSAGES[0][0]]


def test_stop_words_alone_match_nothing(db_engine: Engine) -> None:
    workspace = uuid4()
    store(SqlAlchemyUnitOfWorkFactory(db_engine), PASSAGES, workspace_id=workspace)

    assert search(db_engine).by_text(workspace, "what is the", 5) == []


def test_quotes_and_operators_in_a_question_are_read_as_words(db_engine: Engine) -> None:
    workspace = uuid4()
    store(SqlAlchemyUnitOfWorkFactory(db_engine), PASSAGES, workspace_id=workspace)

    found = search(db_engine).by_text(workspace, "'Redis' & !queue | \"Postgres\" <-> (x:*", 5)

    assert sorted(texts(found)) == sorted([PASSAGES[1][0], PASSAGES[2][0]])
    assert found[0].text == PASSAGES[2][0]
