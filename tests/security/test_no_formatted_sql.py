"""No SQL in src is built by string formatting: values travel as bound parameters."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
SQL_WORD = r"(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|SET|GRANT|TRUNCATE)\b"
FORMATTED_SQL = [
    re.compile(r"\b(text|execute|exec_driver_sql|executemany|copy)\(\s*[rb]?f[\"']"),
    re.compile(r"f[\"']{1,3}\s*" + SQL_WORD, re.IGNORECASE),
    re.compile(SQL_WORD + r".*%[sd(].*[\"']\s*%\s*[\w(]", re.IGNORECASE),
    re.compile(r"[\"']\s*" + SQL_WORD + r"[^\"']*\{\}?[^\"']*[\"']\.format\(", re.IGNORECASE),
]


def formatted_sql(source: str) -> list[str]:
    return [
        line.strip() for line in source.splitlines() if any(p.search(line) for p in FORMATTED_SQL)
    ]


def test_no_sql_in_src_is_built_by_string_formatting() -> None:
    offenders = {
        str(path.relative_to(SRC)): found
        for path in sorted(SRC.rglob("*.py"))
        if (found := formatted_sql(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_check_catches_each_kind_of_formatting() -> None:
    caught = [
        'connection.execute(text(f"SET LOCAL statement_timeout = {ms}"))',
        'cursor.execute(f"DELETE FROM chunks WHERE id = {chunk_id}")',
        "query = \"SELECT * FROM documents WHERE id = '%s'\" % document_id",
        'query = "UPDATE documents SET status = {}".format(status)',
    ]
    allowed = [
        'connection.execute(text("SELECT 1"))',
        'connection.execute(text("SELECT set_config(:name, :ms, true)"), {"ms": "5"})',
        'message = f"selected {count} documents"',
    ]
    assert [formatted_sql(line) != [] for line in caught] == [True] * len(caught)
    assert [formatted_sql(line) for line in allowed] == [[]] * len(allowed)
