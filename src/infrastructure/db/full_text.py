"""The chunks' full-text column: its expression, fixed per database when the migration runs."""

from __future__ import annotations

import re

DEFAULT_TEXT_SEARCH_LANGUAGE = "english"
_NAME = re.compile(r"^[a-z_]+$")


def checked_language(language: str) -> str:
    """`language` if it can be a text search configuration's name (it is written into SQL);
    raises `ValueError` otherwise."""
    if not _NAME.match(language):
        raise ValueError(f"not a text search configuration name: {language!r}")
    return language


def tsvector_expression(language: str) -> str:
    """The generated column's expression: immutable, since the configuration is a constant."""
    return f"to_tsvector('{checked_language(language)}'::regconfig, content)"
