"""The `FinishAnnouncements` contract: the Postgres (LISTEN/NOTIFY) and in-memory adapters pass it.

Postgres delivers a notice to a listener some moments after the commit, so a test waits until
the count it expects is reached (`announced`; the long timeout is never reached when the adapter
works). That nothing else was announced is read after a last document, the marker, finishes:
notices arrive in commit order, so what was announced before it has arrived with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import Engine

from application.errors import DependencyUnavailable
from application.ports import FinishAnnouncements, FinishWatch, UnitOfWork
from domain import Document
from infrastructure.db import PostgresFinishAnnouncements, SqlAlchemyUnitOfWorkFactory, make_engine
from infrastructure.memory import InMemoryDatabase, InMemoryFinishAnnouncements

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@dataclass
class Store:
    """The announcements and a unit-of-work factory over the same documents."""

    announcements: FinishAnnouncements
    uow: Callable[[], UnitOfWork]

    def add(self) -> Document:
        document = Document.register(
            workspace_id=uuid4(),
            filename="a.txt",
            storage_key=f"uploads/{uuid4()}",
            size_bytes=10,
            content_sha256=None,
            now=T0,
        )
        with self.uow() as uow:
            uow.documents.add(document)
            uow.commit()
        return document

    def started(self) -> Document:
        """A new document, committed in `processing`."""
        document = self.add()
        self.change(document, start, commit=True)
        return document

    def change(self, document: Document, step: Callable[[Document], None], *, commit: bool) -> None:
        with self.uow() as uow:
            step(document)
            uow.documents.save(document)
            if commit:
                uow.commit()


def start(document: Document) -> None:
    document.start_processing(T0 + timedelta(seconds=1))


def ready(document: Document) -> None:
    document.mark_ready(
        chunk_count=1,
        embedding_model="m",
        content_sha256="ab" * 32,
        media_type="text/plain",
        now=T0 + timedelta(seconds=2),
    )


def failed(document: Document) -> None:
    document.mark_failed(code="no_text", message="nothing", now=T0 + timedelta(seconds=2))


def announced(watch: FinishWatch, expected: int) -> int:
    """The watch's count once it reaches `expected` (or after a minute, if it never does)."""
    deadline = time.monotonic() + 60
    count = watch.wait(0)
    while count < expected and (remaining := deadline - time.monotonic()) > 0:
        count = watch.wait(remaining)
    return count


class FinishAnnouncementsContract:
    """Subclasses provide `store` (over an empty database) and `unavailable`."""

    def test_a_committed_finish_of_a_watched_document_is_announced(self, store: Store) -> None:
        done, failing = store.add(), store.add()
        with store.announcements.watch([done.id, failing.id]) as watch:
            store.change(done, start, commit=True)
            store.change(failing, start, commit=True)
            store.change(done, ready, commit=True)
            assert announced(watch, 1) == 1  # processing is not finished: only `done` counts
            store.change(failing, failed, commit=True)
            assert announced(watch, 2) == 2

    def test_a_rolled_back_finish_is_not_announced(self, store: Store) -> None:
        document, marker = store.started(), store.started()
        with store.announcements.watch([document.id, marker.id]) as watch:
            store.change(document, ready, commit=False)
            store.change(marker, ready, commit=True)

            assert announced(watch, 1) == 1

    def test_other_documents_are_ignored(self, store: Store) -> None:
        marker, other = store.started(), store.started()
        with store.announcements.watch([marker.id]) as watch:
            store.change(other, ready, commit=True)
            store.change(marker, ready, commit=True)

            assert announced(watch, 1) == 1

    def test_a_finish_before_the_watch_began_is_not_announced(self, store: Store) -> None:
        document, marker = store.started(), store.started()
        store.change(document, ready, commit=True)

        with store.announcements.watch([document.id, marker.id]) as watch:
            store.change(marker, ready, commit=True)

            assert announced(watch, 1) == 1

    def test_a_document_finishing_again_counts_once(self, store: Store) -> None:
        document, marker = store.started(), store.started()
        with store.announcements.watch([document.id, marker.id]) as watch:
            store.change(document, failed, commit=True)
            store.change(document, start, commit=True)
            store.change(document, ready, commit=True)
            store.change(marker, ready, commit=True)

            assert announced(watch, 2) == 2

    def test_saving_a_finished_document_unchanged_is_not_announced_again(
        self, store: Store
    ) -> None:
        document, marker = store.started(), store.started()
        store.change(document, ready, commit=True)
        with store.announcements.watch([document.id, marker.id]) as watch:
            store.change(document, lambda _document: None, commit=True)
            store.change(marker, ready, commit=True)

            assert announced(watch, 1) == 1

    def test_a_wait_wakes_when_another_thread_commits_a_finish(self, store: Store) -> None:
        document = store.add()
        store.change(document, start, commit=True)
        with store.announcements.watch([document.id]) as watch:
            finisher = threading.Thread(
                target=store.change, args=(document, ready), kwargs={"commit": True}
            )
            finisher.start()
            announced = watch.wait(60)  # returns on the announcement, long before the timeout
            finisher.join()

        assert announced == 1

    def test_an_unreachable_store_raises_dependency_unavailable(
        self, unavailable: FinishAnnouncements
    ) -> None:
        with pytest.raises(DependencyUnavailable), unavailable.watch([uuid4()]):
            pass


class TestInMemoryFinishAnnouncements(FinishAnnouncementsContract):
    @pytest.fixture
    def store(self) -> Store:
        database = InMemoryDatabase()
        return Store(InMemoryFinishAnnouncements(database), database.unit_of_work)

    @pytest.fixture
    def unavailable(self) -> FinishAnnouncements:
        database = InMemoryDatabase()
        database.available = False
        return InMemoryFinishAnnouncements(database)


class TestPostgresFinishAnnouncements(FinishAnnouncementsContract):
    @pytest.fixture
    def store(self, db_engine: Engine) -> Store:
        return Store(PostgresFinishAnnouncements(db_engine), SqlAlchemyUnitOfWorkFactory(db_engine))

    @pytest.fixture
    def unavailable(self) -> FinishAnnouncements:
        return PostgresFinishAnnouncements(make_engine("postgresql://postgres@127.0.0.1:1/none"))

    def test_the_connection_goes_back_to_the_pool_no_longer_listening(
        self, db_engine: Engine
    ) -> None:
        engine = make_engine(db_engine.url.render_as_string(hide_password=False))
        try:
            with PostgresFinishAnnouncements(engine).watch([uuid4()]):
                pass
            pooled = engine.pool.checkedin()  # the watch's connection, the pool's only one
            with engine.connect() as connection:
                channels = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_listening_channels()"
                ).scalar_one()
        finally:
            engine.dispose()

        assert pooled == 1
        assert channels == 0
