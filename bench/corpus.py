"""The corpus: real documents from Debian documentation packages, copied and cached per size.

PDFs are the R manuals, gnuplot's, Octave's and Asymptote's; HTML is the PostgreSQL manual (and,
for `full`, the larger pages of Octave's, git's, gnuplot's and Asymptote's manuals plus Maxima's
manual as one 5 MB page); text is git's AsciiDoc sources; DOCX files are made from some of the
HTML and text with python-docx. `quick` is about 20 documents and a few MB. `full` is every
distinct PDF and the larger pages of each manual: about 700 documents and 51 MB, weighted towards
big files, as uploads are (the smallest pages, a few KB each, would measure little but per-job
overhead, which the overhead row measures on its own). The result is cached under
`bench/out/corpus-<size>/` with a `manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.paths import OUT

DEBIAN_PACKAGES = (
    "r-doc-pdf",
    "gnuplot-doc",
    "octave-doc",
    "postgresql-doc-15",
    "git-doc",
    "maxima-doc",
    "asymptote-doc",
)
_PDF_SOURCES = (
    Path("/usr/share/R/doc/manual"),
    Path("/usr/share/doc/r-doc-pdf"),
    Path("/usr/share/doc/gnuplot"),
    Path("/usr/share/doc/gnuplot-doc"),
    Path("/usr/share/doc/octave"),
    Path("/usr/share/doc/asymptote"),
)
_POSTGRES_HTML = Path("/usr/share/doc/postgresql-doc-15/html")
_GIT_DOC = Path("/usr/share/doc/git-doc")
#: Manuals whose larger HTML pages join the `full` corpus, and how many pages of each.
_FULL_HTML = {
    Path("/usr/share/doc/octave"): 100,
    Path("/usr/share/doc/gnuplot"): 30,
    Path("/usr/share/doc/asymptote"): 20,
}
#: Maxima's whole manual as one page (its per-section pages would repeat the same text).
_MAXIMA_SINGLE_PAGE = Path("/usr/share/doc/maxima-doc/html/maxima_singlepage.html")
#: PDFs that repeat another one with different bytes (R's full reference manual is `refman.pdf`).
_SAME_AS_ANOTHER_PDF = ("fullrefman.pdf",)
_QUICK_PDFS = ("R-FAQ.pdf", "R-data.pdf", "R-lang.pdf", "liboctave.pdf")
_KINDS = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".adoc": "text",
    ".md": "text",
    ".docx": "docx",
}


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    kind: str
    size: int


@dataclass(frozen=True)
class Corpus:
    root: Path
    files: tuple[CorpusFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.files).items()))

    def largest(self, kind: str) -> CorpusFile | None:
        candidates = [f for f in self.files if f.kind == kind]
        return max(candidates, key=lambda f: f.size) if candidates else None

    def describe(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in self.counts().items())
        return f"{len(self.files)} documents, {self.total_bytes / 1e6:.1f} MB ({kinds})"


def load_corpus(directory: Path) -> Corpus:
    """Every supported file under `directory`, in a stable order."""
    files = [
        CorpusFile(path, _KINDS[path.suffix.lower()], path.stat().st_size)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix.lower() in _KINDS
    ]
    if not files:
        raise SystemExit(f"no documents (.pdf .html .txt .adoc .md .docx) under {directory}")
    return Corpus(directory, tuple(files))


def build_corpus(size: str) -> Corpus:
    """The cached corpus of `size`, built from the documentation packages on first use."""
    root = OUT / f"corpus-{size}"
    if (root / "manifest.json").exists():
        return load_corpus(root)
    ensure_sources()
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    picks = _quick_picks() if size == "quick" else _full_picks()
    _copy_all(picks["copy"], staging)
    _make_docx(picks["docx"], staging / "docx")
    corpus = load_corpus(staging)
    (staging / "manifest.json").write_text(
        json.dumps({"size": size, "documents": len(corpus.files), "bytes": corpus.total_bytes})
    )
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return load_corpus(root)


def ensure_sources() -> None:
    """Install the documentation packages when their files are missing (as root, with apt)."""
    if _postgres_pages() and _pdfs() and _git_texts() and _MAXIMA_SINGLE_PAGE.exists():
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            "the corpus sources are missing; install them with\n  "
            + " ".join(command)
            + "\nor pass --corpus DIR with your own documents"
        )
    print("installing the corpus sources:", " ".join(command), flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(command, check=True, env=env)


def _pdfs() -> list[Path]:
    seen: set[str] = set()
    unique: list[Path] = []
    for directory in _PDF_SOURCES:
        for path in sorted(directory.rglob("*.pdf")) if directory.exists() else ():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen and path.name not in _SAME_AS_ANOTHER_PDF:
                seen.add(digest)
                unique.append(path)
    return unique


def _postgres_pages() -> list[Path]:
    return sorted(_POSTGRES_HTML.glob("*.html")) if _POSTGRES_HTML.exists() else []


def _git_texts() -> list[Path]:
    if not _GIT_DOC.exists():
        return []
    return sorted(p for p in _GIT_DOC.rglob("*") if p.suffix in (".txt", ".adoc"))


def _git_pages() -> list[Path]:
    return sorted(_GIT_DOC.rglob("*.html")) if _GIT_DOC.exists() else []


def _by_size(paths: Iterable[Path], count: int, minimum: int = 4_000) -> list[Path]:
    """`count` files spread over the size range, skipping stubs smaller than `minimum` bytes."""
    candidates = sorted((p for p in paths if p.stat().st_size >= minimum), key=_size_then_name)
    if len(candidates) <= count:
        return candidates
    step = len(candidates) / count
    return [candidates[int(i * step)] for i in range(count)]


def _size_then_name(path: Path) -> tuple[int, str]:
    return path.stat().st_size, path.name


def _quick_picks() -> dict[str, list[Path]]:
    pdfs = [p for p in _pdfs() if p.name in _QUICK_PDFS]
    pages = _by_size(_postgres_pages(), 8, minimum=20_000)
    texts = _by_size(_git_texts(), 4, minimum=10_000)
    docx_sources = _by_size(_postgres_pages(), 2, minimum=30_000)[-1:] + texts[:1]
    docx_sources += _by_size(_git_texts(), 2, minimum=20_000)[-1:]
    docx_sources += _by_size(_postgres_pages(), 9, minimum=20_000)[:1]
    return {"copy": pdfs + pages + texts, "docx": docx_sources}


def _full_picks() -> dict[str, list[Path]]:
    texts = _git_texts()
    pages = _postgres_pages()
    html = _largest(pages, 300) + _largest(_git_pages(), 130) + [_MAXIMA_SINGLE_PAGE]
    for manual, count in _FULL_HTML.items():
        html += _largest((p for p in manual.rglob("*.html") if p.is_file()), count)
    docx_sources = _by_size(pages, 30, minimum=20_000) + _by_size(texts, 10, minimum=10_000)
    return {"copy": _pdfs() + html + _largest(texts, 60), "docx": docx_sources}


def _largest(paths: Iterable[Path], count: int) -> list[Path]:
    """The `count` largest files (ties broken by name, so the pick is stable)."""
    by_size = sorted(paths, key=lambda p: (-p.stat().st_size, p.name))
    return by_size[:count]


def _copy_all(paths: list[Path], root: Path) -> None:
    for path in paths:
        kind = _KINDS[path.suffix.lower()]
        target = root / kind / f"{path.parent.name}-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _make_docx(sources: list[Path], directory: Path) -> None:
    from docx import Document

    directory.mkdir(parents=True, exist_ok=True)
    for source in sources:
        document = Document()
        for level, text in _blocks(source):
            if level:
                document.add_heading(text[:200], level=level)
            else:
                document.add_paragraph(text)
        document.save(str(directory / f"{source.stem}.docx"))


def _blocks(source: Path) -> list[tuple[int, str]]:
    """(heading level or 0, text) for each heading and paragraph of an HTML or text file."""
    raw = source.read_text(encoding="utf-8", errors="replace")
    if source.suffix == ".html":
        from selectolax.lexbor import LexborHTMLParser

        nodes = LexborHTMLParser(raw).css("h1, h2, h3, p, pre, li, td")
        blocks = [(_level(node.tag or ""), node.text(separator=" ").strip()) for node in nodes]
    else:
        blocks = [(0, part.strip()) for part in raw.split("\n\n")]
    return [(level, _printable(text)) for level, text in blocks if text]


def _level(tag: str) -> int:
    return int(tag[1]) if tag in ("h1", "h2", "h3") else 0


def _printable(text: str) -> str:
    """Drop control characters that XML (and so DOCX) cannot hold."""
    return "".join(c for c in text if c in "\t\n" or ord(c) >= 32)
