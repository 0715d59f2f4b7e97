"""A question set from real FAQs: the Debian FAQ (`debian-faq`) and Git's gitfaq (`git-doc`).

Each FAQ becomes documents to ingest with every question taken out of the text (its answer
stays), and a list of (question, document, answer). A retrieved chunk answers a question when it
comes from the question's document and shares a run of `RUN_WORDS` words with the answer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser
    from selectolax.lexbor import LexborNode as Node

DEBIAN_FAQ = Path("/usr/share/doc/debian/FAQ")
GITFAQ = Path("/usr/share/doc/git/html/gitfaq.txt")
PACKAGES = {"debian-faq": DEBIAN_FAQ, "git-doc": GITFAQ}
#: How many words in a row a chunk must share with the answer to count as finding it.
RUN_WORDS = 8
_WORD = re.compile(r"\w+")
_NUMBERING = re.compile(r"^\s*[\d.]+\s+")


@dataclass(frozen=True)
class Question:
    text: str
    filename: str
    answer: str


@dataclass(frozen=True)
class QuestionSet:
    documents: dict[str, bytes]
    questions: list[Question]

    def answered_by(self, question: Question, filename: str, chunk: str) -> bool:
        return filename == question.filename and shares_a_run(question.answer, chunk)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shares_a_run(answer: str, chunk: str, run: int = RUN_WORDS) -> bool:
    """Whether `chunk` holds `run` consecutive words of `answer` (all of it when shorter)."""
    answer_words, chunk_words = words(answer), words(chunk)
    size = min(run, len(answer_words))
    wanted = {tuple(answer_words[i : i + size]) for i in range(len(answer_words) - size + 1)}
    return any(
        tuple(chunk_words[i : i + size]) in wanted for i in range(len(chunk_words) - size + 1)
    )


def install_missing() -> str | None:
    """Install the FAQ packages with apt-get when their files are missing; the reason when it
    cannot be done (None when everything is in place)."""
    missing = [name for name, path in PACKAGES.items() if not path.exists()]
    if not missing:
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return f"{', '.join(missing)} not installed (needs apt-get as root)"
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return f"`{' '.join(command)}` failed: {done.stderr.strip()[-200:]}"
    return None


def build_question_set(max_questions: int) -> QuestionSet:
    """Every FAQ found, questions removed; at most `max_questions` questions, spread evenly."""
    documents: dict[str, bytes] = {}
    questions: list[Question] = []
    if DEBIAN_FAQ.is_dir():
        for page in sorted(DEBIAN_FAQ.glob("*.en.html")):
            if page.name not in ("index.en.html", "faqinfo.en.html"):
                _add(documents, questions, *_debian_page(page))
    if GITFAQ.is_file():
        _add(documents, questions, *_gitfaq(GITFAQ.read_text(encoding="utf-8")))
    asked = [q for q in questions if len(words(q.answer)) >= RUN_WORDS]
    step = max(1, -(-len(asked) // max_questions))
    return QuestionSet(documents, asked[::step][:max_questions])


def _add(
    documents: dict[str, bytes],
    questions: list[Question],
    filename: str,
    data: bytes,
    found: list[Question],
) -> None:
    if found:
        documents[filename] = data
        questions.extend(found)


def _debian_page(page: Path) -> tuple[str, bytes, list[Question]]:
    """A chapter of the Debian FAQ with its question headings taken out."""
    from selectolax.lexbor import LexborHTMLParser

    filename = page.name.replace(".en.html", ".html")
    tree = LexborHTMLParser(page.read_text(encoding="utf-8"))
    found = []
    for heading in tree.css("div.section h2.title, div.section h3.title"):
        question = _NUMBERING.sub("", " ".join(heading.text().split()))
        section = heading.parent
        while section is not None and "section" not in (section.attributes.get("class") or ""):
            section = section.parent
        if not question.endswith("?") or section is None:
            continue
        _drop_contents_entries(tree, heading)
        heading.decompose()
        own = section.text(deep=True)
        found.append(Question(question, filename, " ".join(own.split())))
    return filename, (tree.html or "").encode(), found


def _drop_contents_entries(tree: LexborHTMLParser, heading: Node) -> None:
    """Take the entries naming `heading`'s section out of the chapter's table of contents, which
    repeats every question verbatim."""
    for anchor in heading.css("a[id]"):
        target = anchor.attributes.get("id")
        for link in tree.css("div.toc a[href]"):
            if (link.attributes.get("href") or "").endswith(f"#{target}"):
                entry = link
                while entry.parent is not None and entry.tag != "dt":
                    entry = entry.parent
                (entry if entry.tag == "dt" else link).decompose()


def _gitfaq(text: str) -> tuple[str, bytes, list[Question]]:
    """gitfaq(7) as Markdown: its sections as headings, each answer a paragraph, no questions."""
    filename = "gitfaq.md"
    lines = ["# gitfaq - Frequently asked questions about using Git", ""]
    found: list[Question] = []
    blocks = re.split(r"\n(?=\[\[[\w-]+\]\]\n)|\n(?=[^\n]+\n-{3,}\n)", text)
    for block in blocks:
        section = re.match(r"([^\n]+)\n-{3,}\n", block)
        if section:
            lines += [f"## {section.group(1).strip()}", ""]
        asked = re.search(r"^([^\n]+\?)::\n", block, re.MULTILINE)
        if not asked:
            continue
        answer = block[asked.end() :]
        answer = "\n".join(line.strip() for line in answer.splitlines() if line.strip() != "+")
        answer = re.sub(r"\n-{4,}\n", "\n", answer).strip()
        lines += [answer, ""]
        found.append(Question(asked.group(1).strip(), filename, " ".join(answer.split())))
    return filename, "\n".join(lines).encode(), found
