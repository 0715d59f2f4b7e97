"""A corpus of hostile and broken jobs and files, all through ONE real worker process.

Each case ends the way its row in `CASES` says: a document `failed` with that error code and a
readable message, or a job failed with that error, never retried. Afterwards the worker is the
same live process and processes a good document, and a bystander document (another workspace,
already `ready`) has exactly the row and chunks it had before.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from pypdf import PdfWriter
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import text

from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from tests.faults.harness import FaultWorld, Row, wait_until
from tests.fixtures.files import read_data
from tests.fixtures.worker import WorkerProcess

WORKSPACE = UUID("0b5e55ed-0000-4000-8000-000000000001")
BYSTANDER_WORKSPACE = UUID("0b5e55ed-0000-4000-8000-000000000002")
TEXT = b"A perfectly ordinary paragraph about ingestion.\n\nAnd a second one.\n"


@dataclass(frozen=True)
class Case:
    """A hostile input: how to make it, and the error code it must end with."""

    name: str
    expected: str
    make: Callable[[Corpus], Any]


class Corpus:
    """Builds each case in the world and remembers the document or job it made."""

    def __init__(self, world: FaultWorld) -> None:
        self.world = world
        self.queue = Queue(
            world.settings.queue_name, connection=world.client(), serializer=SERIALIZER
        )
        self.witness = world.root / "witness"
        self.bystander = world.submit(BYSTANDER_WORKSPACE, "bystander.txt", TEXT, enqueue=False)

    # Ways in ---------------------------------------------------------------------------------

    def upload(self, name: str, data: bytes) -> UUID:
        return self.world.submit(WORKSPACE, name, data).id

    def upload_then(self, name: str, data: bytes, change: Callable[[Path], None]) -> UUID:
        """Store the file, change it on disk, then enqueue: the worker reads what `change` left."""
        document = self.world.submit(WORKSPACE, name, data, enqueue=False)
        change(self.world.settings.storage_root / document.storage_key)
        self.enqueue(str(document.id), str(WORKSPACE))
        return document.id

    def row_with_key(self, storage_key: str) -> UUID:
        """A `queued` row whose storage key was written by someone else (not our API)."""
        document_id = uuid4()
        insert = text(
            "INSERT INTO documents (id, workspace_id, filename, storage_key, size_bytes, status)"
            " VALUES (:id, :workspace, 'x.txt', :key, 10, 'queued')"
        )
        with self.world.engine.begin() as connection:
            connection.execute(
                insert, {"id": document_id, "workspace": WORKSPACE, "key": storage_key}
            )
        self.enqueue(str(document_id), str(WORKSPACE))
        return document_id

    def enqueue(self, *args: object, function: str = PROCESS_DOCUMENT_JOB, **kwargs: object) -> str:
        return self.queue.enqueue_call(function, args=args, kwargs=kwargs).id

    def pickled(self) -> str:
        """A job whose payload is a pickle that would run a command when loaded."""
        payload = pickle.dumps((PROCESS_DOCUMENT_JOB, None, (_Explosive(self.witness),), {}))
        job = Job.create(
            PROCESS_DOCUMENT_JOB, connection=self.queue.connection, serializer=SERIALIZER
        )
        job.save()
        self.queue.connection.hset(job.key, "data", payload)
        self.queue.connection.rpush(self.queue.key, job.id)
        return job.id

    def stored(self, payload: bytes) -> str:
        """A job whose hash holds `payload` as its (compressed) data, written straight into
        Redis as an outside client could."""
        job = Job.create(
            PROCESS_DOCUMENT_JOB, connection=self.queue.connection, serializer=SERIALIZER
        )
        job.save()
        self.queue.connection.hset(job.key, "data", payload)
        self.queue.connection.rpush(self.queue.key, job.id)
        return job.id

    def described(self, description: str) -> str:
        return self.queue.enqueue_call(PROCESS_DOCUMENT_JOB, description=description).id


def call_payload(args: object, kwargs: object) -> bytes:
    return zlib.compress(SERIALIZER.dumps((PROCESS_DOCUMENT_JOB, None, args, kwargs)))


def zlib_bomb(megabytes: int = 300) -> bytes:
    """About 300 KB that inflate to `megabytes` MB of spaces."""
    compressor = zlib.compressobj(9)
    block = b" " * (1 << 20)
    return b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()


class _Explosive:
    def __init__(self, witness: Path) -> None:
        self.witness = witness

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (os.system, (f"touch {self.witness}",))


# File makers -------------------------------------------------------------------------------


def pdf_pages(count: int) -> bytes:
    writer = PdfWriter()
    for _ in range(count):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(read_data("libtasn1.pdf")))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def docx_bomb(megabytes: int = 200) -> bytes:
    """A DOCX of a few hundred KB whose document.xml inflates to `megabytes` MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(
                b'<?xml version="1.0"?><w:document xmlns:w="' + _W + b'"><w:body><w:p><w:r><w:t>'
            )
            block = b"A" * (1 << 20)
            for _ in range(megabytes):
                part.write(block)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return buffer.getvalue()


def docx_of_empty_paragraphs(count: int = 3_000_000) -> bytes:
    """A DOCX of `count` empty paragraphs, each with a random revision id so that the archive
    compresses no better than real documents do (about 70 MB of XML in 16 MB)."""
    ids = os.urandom(4 * count).hex().encode()
    paragraphs = b'"/><w:p w:rsidR="'.join(ids[i : i + 8] for i in range(0, 8 * count, 8))
    return docx_with(
        b'<?xml version="1.0"?><w:document xmlns:w="'
        + _W
        + b'"><w:body><w:p w:rsidR="'
        + paragraphs
        + b'"/></w:body></w:document>'
    )


def docx_with(document_xml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("word/document.xml", document_xml)
    return buffer.getvalue()


_W = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "lollollollollollollollollollol">'
    + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10)
        for i in range(9)
    )
    + b']><w:document xmlns:w="'
    + _W
    + b'"><w:body><w:p><w:r><w:t>&j;</w:t></w:r></w:p>'
    b"</w:body></w:document>"
)


def _sparse(size: int) -> Callable[[Path], None]:
    return lambda path: os.truncate(path, size)


def _delete(path: Path) -> None:
    path.unlink()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _socket(path: Path) -> None:
    """A unix socket where the file was: opening it fails with ENXIO, whatever the permissions."""
    path.unlink()
    os.mknod(path, stat.S_IFSOCK | 0o600)


def _symlink_to(target: str) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        path.unlink()
        path.symlink_to(target)

    return change


def _hard_link_outside(path: Path) -> None:
    """The blob replaced by a hard link to a file outside the storage root (same filesystem)."""
    outside = path.parents[3] / f"outside-{path.name}"
    outside.write_bytes(b"a file outside the storage root, never to be indexed")
    path.unlink()
    os.link(outside, path)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


CASES = [
    # Job arguments and job payloads.
    Case(
        "malformed document id",
        "InvalidJobArgument",
        lambda c: c.enqueue("not-a-uuid", str(WORKSPACE)),
    ),
    Case(
        "malformed workspace id",
        "InvalidJobArgument",
        lambda c: c.enqueue(str(uuid4()), "1; DROP TABLE documents"),
    ),
    Case("no arguments", "InvalidJobArgument", lambda c: c.enqueue()),
    Case("id as a number", "InvalidJobArgument", lambda c: c.enqueue(12345, str(WORKSPACE))),
    Case(
        "id as an object", "InvalidJobArgument", lambda c: c.enqueue({"$ne": None}, str(WORKSPACE))
    ),
    Case("10 kB id", "InvalidJobArgument", lambda c: c.enqueue("f" * 10_000, str(WORKSPACE))),
    Case(
        "extra positional argument",
        "InvalidJobArgument",
        lambda c: c.enqueue(str(uuid4()), str(WORKSPACE), "more"),
    ),
    Case(
        "extra keyword argument",
        "InvalidJobArgument",
        lambda c: c.enqueue(str(uuid4()), str(WORKSPACE), force=True),
    ),
    Case("unknown document", "DocumentNotFound", lambda c: c.enqueue(str(uuid4()), str(WORKSPACE))),
    Case(
        "document of another workspace",
        "WorkspaceMismatch",
        lambda c: c.enqueue(str(c.bystander.id), str(WORKSPACE)),
    ),
    Case(
        "arbitrary callable",
        "ForbiddenJob",
        lambda c: c.enqueue(f"touch {c.witness}", function="os.system"),
    ),
    Case(
        "builtin eval",
        "ForbiddenJob",
        lambda c: c.enqueue("__import__('os')", function="builtins.eval"),
    ),
    Case(
        "look-alike job path",
        "ForbiddenJob",
        lambda c: c.enqueue(function="worker.runtime.install"),
    ),
    Case("pickled payload", "DeserializationError", lambda c: c.pickled()),
    Case("arguments as null", "invalid_argument", lambda c: c.stored(call_payload(None, {}))),
    Case("arguments as a number", "invalid_argument", lambda c: c.stored(call_payload(7, {}))),
    Case(
        "keyword arguments as a list",
        "invalid_argument",
        lambda c: c.stored(call_payload([], [1, 2])),
    ),
    Case("zlib bomb as the payload", "undecodable_job", lambda c: c.stored(zlib_bomb())),
    Case("150 KB description", "invalid_argument", lambda c: c.described("d" * 150_000)),
    Case(
        "100 KB keyword name",
        "invalid_argument",
        lambda c: c.enqueue(str(uuid4()), str(WORKSPACE), **{"k" * 100_000: 1}),
    ),
    # Stored files.
    Case(
        "missing storage object", "blob_missing", lambda c: c.upload_then("gone.txt", TEXT, _delete)
    ),
    Case("zero bytes", "empty_document", lambda c: c.upload_then("empty.txt", TEXT, _empty)),
    Case(
        "1 GB sparse file", "too_large", lambda c: c.upload_then("huge.txt", TEXT, _sparse(1 << 30))
    ),
    Case(
        "FIFO in place of the file",
        "blob_missing",
        lambda c: c.upload_then("fifo.txt", TEXT, _fifo),
    ),
    Case(
        "unix socket in place of the file",
        "blob_unreadable",
        lambda c: c.upload_then("socket.txt", TEXT, _socket),
    ),
    Case(
        "symbolic link to /etc/passwd",
        "invalid_storage_key",
        lambda c: c.upload_then("link.txt", TEXT, _symlink_to("/etc/passwd")),
    ),
    Case(
        "hard link to a file outside the storage root",
        "invalid_storage_key",
        lambda c: c.upload_then("hardlink.txt", TEXT, _hard_link_outside),
    ),
    Case(
        "storage key of another workspace's file",
        "invalid_storage_key",
        lambda c: c.row_with_key(c.bystander.storage_key),
    ),
    Case(
        "storage key climbing out",
        "invalid_storage_key",
        lambda c: c.row_with_key("../../../etc/passwd"),
    ),
    Case("absolute storage key", "invalid_storage_key", lambda c: c.row_with_key("/etc/passwd")),
    Case(
        "storage key with dot segments",
        "invalid_storage_key",
        lambda c: c.row_with_key(f"{WORKSPACE}/./../../x.txt"),
    ),
    Case(
        "filename with path traversal",
        "ready",
        lambda c: c.upload("../../../../etc/cron.d/evil.txt", TEXT),
    ),
    Case(
        "binary data named .txt",
        "unsupported_media_type",
        lambda c: c.upload("data.txt", bytes(range(256)) * 64),
    ),
    Case(
        "PNG named .pdf",
        "unsupported_media_type",
        lambda c: c.upload("image.pdf", read_data("git-logo.png")),
    ),
    Case("PDF named .txt", "ready", lambda c: c.upload("paper.txt", read_data("libtasn1.pdf"))),
    Case(
        "invalid UTF-8 text",
        "ready",
        lambda c: c.upload("latin.txt", b"caf\xe9 cr\xe8me \xff\xfe br\xfbl\xe9e " * 20),
    ),
    Case(
        "UTF-16 without a BOM",
        "ready",
        lambda c: c.upload("utf16.txt", TEXT.decode().encode("utf-16-le")),
    ),
    Case(
        "NUL bytes after a UTF-8 BOM",
        "unsupported_media_type",
        lambda c: c.upload("nul.txt", codecs.BOM_UTF8 + TEXT + b"\x00\x00" + TEXT),
    ),
    Case("64 KB of [", "ready", lambda c: c.upload("brackets.md", b"[" * 65_536)),
    Case("whitespace only", "no_text", lambda c: c.upload("blank.txt", b" \n\t\r\n " * 100)),
    Case(
        "corrupt PDF",
        "corrupt_document",
        lambda c: c.upload("bad.pdf", b"%PDF-1.7\n" + os.urandom(4096)),
    ),
    Case(
        "truncated PDF",
        "corrupt_document",
        lambda c: c.upload("cut.pdf", read_data("libtasn1.pdf")[:3000]),
    ),
    Case("encrypted PDF", "encrypted_document", lambda c: c.upload("locked.pdf", encrypted_pdf())),
    # More pages than the default MAX_PAGES (5,000).
    Case("PDF of 6,000 empty pages", "too_large", lambda c: c.upload("pages.pdf", pdf_pages(6000))),
    Case("PDF of 50 empty pages", "no_text", lambda c: c.upload("blank.pdf", pdf_pages(50))),
    Case("DOCX zip bomb", "too_large", lambda c: c.upload("bomb.docx", docx_bomb())),
    Case(
        "DOCX of 3 million empty paragraphs",
        "too_large",
        lambda c: c.upload("paragraphs.docx", docx_of_empty_paragraphs()),
    ),
    Case(
        "DOCX billion laughs",
        "corrupt_document",
        lambda c: c.upload("laughs.docx", docx_with(_LAUGHS)),
    ),
    Case(
        "DOCX that is not a zip",
        "corrupt_document",
        lambda c: c.upload("fake.docx", b"PK\x03\x04" + os.urandom(2000)),
    ),
    Case(
        "deeply nested HTML",
        "too_large",
        lambda c: c.upload("deep.html", b"<div>" * 200_000 + b"x"),
    ),
    Case(
        "HTML of scripts only",
        "no_text",
        lambda c: c.upload(
            "script.html", b"<html><script>var a=1;</script><style>p{}</style></html>"
        ),
    ),
]


@pytest.fixture(scope="module")
def corpus_run(world: FaultWorld) -> dict[str, Any]:
    """Every case made and processed by one worker; then a good document after them all."""
    worker = world.start_worker()
    worker.wait_until_consuming()
    pid = worker.process.pid
    corpus = Corpus(world)
    _ready_bystander(world, corpus)
    before = _snapshot(world, corpus.bystander.id)
    made = {case.name: case.make(corpus) for case in CASES}
    documents = [m for m in made.values() if isinstance(m, UUID)]
    jobs = [m for m in made.values() if isinstance(m, str)]
    rows = world.wait_for_final(documents, timeout=120)
    finished = {job_id: _wait_for_job(corpus, job_id) for job_id in jobs}
    good = corpus.upload("after.txt", TEXT)
    return {
        "made": made,
        "rows": rows,
        "jobs": finished,
        "good": world.wait_for_final([good], timeout=30)[good],
        "worker": worker,
        "pid": pid,
        "witness": corpus.witness,
        "bystander": (before, _snapshot(world, corpus.bystander.id)),
    }


def _ready_bystander(world: FaultWorld, corpus: Corpus) -> None:
    corpus.enqueue(str(corpus.bystander.id), str(BYSTANDER_WORKSPACE))
    world.wait_for_final([corpus.bystander.id], timeout=30)


def _snapshot(world: FaultWorld, document_id: UUID) -> tuple[Row, list[tuple[int, str]]]:
    return world.rows([document_id])[document_id], world.chunk_texts().get(document_id, [])


def _wait_for_job(corpus: Corpus, job_id: str) -> Job:
    def fetch() -> Job:
        return Job.fetch(job_id, connection=corpus.queue.connection, serializer=SERIALIZER)

    def ended() -> Job | None:
        # fetched again once ended: the fields read first may predate the worker's final write
        done = fetch().get_status() in (JobStatus.FINISHED, JobStatus.FAILED)
        return fetch() if done else None

    return wait_until(ended, 60, f"job {job_id}")  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_hostile_input_ends_with_its_code(case: Case, corpus_run: dict[str, Any]) -> None:
    made = corpus_run["made"][case.name]
    if isinstance(made, UUID):
        _assert_document_outcome(corpus_run["rows"][made], case.expected)
    else:
        _assert_job_refused(corpus_run["jobs"][made], case.expected)


def _assert_document_outcome(row: Row, expected: str) -> None:
    if expected == "ready":
        assert (row.status, row.error_code) == ("ready", None), row
        assert row.chunk_count >= 1
        return
    assert (row.status, row.error_code) == ("failed", expected), row
    assert row.attempts == 1, "a permanent failure is never retried"
    message = row.error_message or ""
    assert 0 < len(message) <= 500 and "Traceback" not in message, message


def _assert_job_refused(job: Job, expected: str) -> None:
    assert job.get_status() == JobStatus.FAILED
    assert expected in str(job.latest_result().exc_string)
    assert len(job.results()) == 1, "a refused job is never retried"


def test_the_worker_survives_the_corpus_and_then_processes_a_good_document(
    corpus_run: dict[str, Any],
) -> None:
    worker: WorkerProcess = corpus_run["worker"]
    assert worker.process.poll() is None and worker.process.pid == corpus_run["pid"]
    good: Row = corpus_run["good"]
    assert good.status == "ready" and good.chunk_count >= 1


def test_the_worker_parent_never_inflated_a_payload_and_logged_bounded_lines(
    corpus_run: dict[str, Any],
) -> None:
    worker: WorkerProcess = corpus_run["worker"]
    assert _peak_resident_megabytes(corpus_run["pid"]) < 400
    assert max(len(line) for line in worker.lines) < 20_000


def _peak_resident_megabytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    return int(kilobytes) // 1024


def test_no_case_ran_code_or_touched_another_workspace(corpus_run: dict[str, Any]) -> None:
    assert not corpus_run["witness"].exists()
    before, after = corpus_run["bystander"]
    assert before == after and before[0].status == "ready"


def test_a_traversing_filename_stays_under_the_storage_root(
    corpus_run: dict[str, Any], world: FaultWorld
) -> None:
    assert not Path("/etc/cron.d/evil.txt").exists()
    stored = [p for p in world.settings.storage_root.rglob("evil.txt")]
    assert len(stored) == 1 and stored[0].resolve().is_relative_to(
        world.settings.storage_root.resolve()
    )


def test_the_corpus_has_thirty_cases_or_more() -> None:
    assert len(CASES) >= 30 and len({case.name for case in CASES}) == len(CASES)
