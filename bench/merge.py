"""A partial run's report merged into the last one: the rows (and their details) of measurements
this run did not take stay, marked with the run that measured them; the ones it took replace
theirs.

Each row and detail section carries a hidden note (`report.measurement_mark`) naming its
measurement's key and the start of the run that measured it, so a row kept once keeps its date
through later partial runs. Rows of a report written before those notes existed have no key:
they are matched by title and dated by that report's header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.report import measurement_mark, section, spliced

_MARK = re.compile(r"<!-- measurement (?P<key>\S+), run of (?P<run>.*?) -->")
_ROW = re.compile(r"^\| (?P<number>\d+) \| (?P<cells>.*\|)")
_GENERATED = re.compile(r" on (?P<run>.+?) in \d+ s\.")
_UNKNOWN_KEY = "?"
_EARLIER_NOTE = "*Kept from the run of "


@dataclass
class _Entry:
    """One measurement of the report: its row (past the number) and its detail section."""

    key: str | None
    run: str
    title: str
    rest: str
    details: list[str] = field(default_factory=list)


def merged_with_earlier(markdown: str, previous: str, order: Sequence[str]) -> str:
    """`markdown` (a partial run's report) with the rows and details of `previous` that this run
    did not measure, in `order` (the keys of a full run's measurements, in its order), each marked
    with the run that measured it; the header says which rows are whose."""
    measured = _entries(markdown)
    earlier = _entries(previous)
    if not earlier:
        return markdown
    run = _generated(markdown)
    merged = _merged(measured, earlier, order)
    markdown = spliced(markdown, "## Results", _results(markdown, merged, run))
    markdown = spliced(markdown, "## Details", _details(merged, run))
    return _with_header(markdown, merged, run)


def _merged(measured: list[_Entry], earlier: list[_Entry], order: Sequence[str]) -> list[_Entry]:
    """The earlier entries in their order, those of a measurement taken now replaced by its new
    ones where the first of them stood, and new measurements placed by `order`."""
    keys = {e.key for e in measured}
    titles = {e.title: e.key for e in measured}
    pending = list(measured)
    merged: list[_Entry] = []

    def place(taken: list[_Entry]) -> None:
        merged.extend(taken)
        pending[:] = [e for e in pending if e not in taken]

    for entry in earlier:
        if entry.key in order:
            place([e for e in pending if _position(e, order) < order.index(entry.key)])
        replaced_by = entry.key if entry.key is not None else titles.get(entry.title, _UNKNOWN_KEY)
        if replaced_by in keys:
            place([e for e in pending if e.key == replaced_by])
        else:
            merged.append(entry)
    place(pending)
    return merged


def _position(entry: _Entry, order: Sequence[str]) -> int:
    return order.index(entry.key) if entry.key in order else len(order)


def _entries(markdown: str) -> list[_Entry]:
    """The rows of a report's `## Results` table, with their `## Details` sections."""
    run = _generated(markdown)
    details = _detail_sections(markdown)
    entries = []
    for line in section(markdown, "## Results"):
        row = _ROW.match(line)
        if row is None:
            continue
        mark = _MARK.search(line)
        key = mark["key"] if mark else _UNKNOWN_KEY
        entry_run = mark["run"] if mark else run
        title, _, rest = row["cells"].partition(" | ")
        title = title.removesuffix(_earlier_marker(entry_run))
        known = None if key == _UNKNOWN_KEY else key
        entries.append(_Entry(known, entry_run, title, rest, details.get(title, [])))
    return entries


def _detail_sections(markdown: str) -> dict[str, list[str]]:
    """Each `### title` section of `## Details` by title, without its heading, mark and note."""
    sections: dict[str, list[str]] = {}
    title = None
    for line in section(markdown, "## Details")[1:]:
        if line.startswith("### "):
            title = line.removeprefix("### ")
            sections[title] = []
        elif title is not None and not _MARK.fullmatch(line) and not line.startswith(_EARLIER_NOTE):
            sections[title].append(line)
    for lines in sections.values():  # the blank line the note was set apart by
        if len(lines) > 1 and lines[0] == lines[1] == "":
            del lines[0]
    return sections


def _results(markdown: str, merged: list[_Entry], run: str) -> list[str]:
    head = [line for line in section(markdown, "## Results") if not _ROW.match(line)]
    table_end = max(i for i, line in enumerate(head) if line.startswith("|")) + 1
    rows = [
        f"| {n} | {entry.title}{_earlier_marker(entry.run) if entry.run != run else ''} | "
        f"{entry.rest} {measurement_mark(entry.key or _UNKNOWN_KEY, entry.run)}"
        for n, entry in enumerate(merged, 1)
    ]
    return [*head[:table_end], *rows, *head[table_end:]]


def _details(merged: list[_Entry], run: str) -> list[str]:
    lines = ["## Details", ""]
    for entry in merged:
        lines += [f"### {entry.title}", measurement_mark(entry.key or _UNKNOWN_KEY, entry.run)]
        if entry.run != run:
            lines += ["", f"{_EARLIER_NOTE}{entry.run}, not measured by this one.*"]
        lines += entry.details
    return lines


def _with_header(markdown: str, merged: list[_Entry], run: str) -> str:
    """The header paragraph told which rows this run measured and which runs the others are from."""
    by_run: dict[str, list[int]] = {}
    for n, entry in enumerate(merged, 1):
        by_run.setdefault(entry.run, []).append(n)
    now = by_run.pop(run, [])
    if not by_run:  # every row is this run's
        return markdown
    measured = f"This run measured {_numbers(now)}" if now else "This run measured no row"
    kept = "; ".join(f"{_numbers(numbers)} from the run of {r}" for r, numbers in by_run.items())
    sentence = f" {measured} of the results; the others are kept from earlier runs: {kept}."
    lines = markdown.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Generated by "))
    lines[at] += sentence
    return "\n".join(lines) + "\n"


def _numbers(numbers: list[int]) -> str:
    """`[1, 2, 3, 5]` as "rows 1–3 and 5"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and spans[-1][-1] == n - 1:
            spans[-1].append(n)
        else:
            spans.append([n])
    parts = [f"{s[0]}–{s[-1]}" if len(s) > 2 else ", ".join(map(str, s)) for s in spans]
    text = ", ".join(parts)
    head, _, last = text.rpartition(", ")
    plural = len(numbers) > 1
    return f"row{'s' if plural else ''} {f'{head} and {last}' if head else last}"


def _earlier_marker(run: str) -> str:
    return f" *(from the run of {run})*"


def _generated(markdown: str) -> str:
    """The start of the run a report's header names ("Generated by … on <start> in N s.")."""
    header = next((line for line in markdown.splitlines() if line.startswith("Generated by ")), "")
    found = _GENERATED.search(header)
    return found["run"] if found else "an earlier run"
