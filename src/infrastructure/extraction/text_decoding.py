"""Turning text bytes into `str` without assuming an encoding."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from application.errors import CorruptDocument, UnsupportedMediaType

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than tab, line feed, vertical tab, form feed, carriage return and escape.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_CONTROL_SAMPLE = 65_536
_MAX_CONTROL_RATIO = 0.02
_NUL_MESSAGE = "the file is binary (it holds NUL bytes), not text"
_WESTERN = "cp1252"
_NEAR_TIE = 0.05
# BOM-less UTF-16 of mostly-ASCII text: a NUL in at least half the code units' high bytes, and
# almost never in their low bytes (U+0100, U+0400... are rare).
_UTF16_SAMPLE = 4096
_MIN_HIGH_NULS = 0.5
_MAX_LOW_NULS = 0.01


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `data` names, if there is one."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def evident_encoding(data: bytes) -> str | None:
    """The encoding the bytes show by themselves: their BOM's, or UTF-16's without a BOM
    when NULs fill every other byte of mostly-ASCII text."""
    return bom_encoding(data) or _bomless_utf16(data[:_UTF16_SAMPLE])


def decode_text(data: bytes, declared: str | None = None) -> str:
    """`data` as text: by its evident encoding (a BOM, or UTF-16's NUL pattern), else strict
    UTF-8, else `declared`, else charset detection.

    Raises `UnsupportedMediaType` for binary content (NUL bytes or NUL characters, many control
    characters) and for bytes that are no encoding charset_normalizer is confident about;
    `CorruptDocument` when the bytes break the encoding they evidently are in.
    """
    encoding = evident_encoding(data)
    if encoding:
        text = _decode_strictly(data, encoding)
        _refuse_nul_characters(text)
    else:
        refuse_nul_bytes(data)
        text = _decode_without_bom(data, declared)
    _refuse_control_characters(text)
    return text


def refuse_nul_bytes(data: bytes) -> None:
    if b"\x00" in data:
        raise UnsupportedMediaType(_NUL_MESSAGE)


def _refuse_nul_characters(text: str) -> None:
    """NULs decoded from a BOM's encoding are binary just as NUL bytes are (and no database
    text column takes them)."""
    if "\x00" in text:
        raise UnsupportedMediaType(_NUL_MESSAGE)


def _bomless_utf16(sample: bytes) -> str | None:
    units = len(sample) // 2
    if not units:
        return None
    even_nuls, odd_nuls = sample[0 : units * 2 : 2].count(0), sample[1 : units * 2 : 2].count(0)
    for high_nuls, low_nuls, encoding in (
        (odd_nuls, even_nuls, "utf-16-le"),
        (even_nuls, odd_nuls, "utf-16-be"),
    ):
        if high_nuls >= _MIN_HIGH_NULS * units and low_nuls <= _MAX_LOW_NULS * units:
            return encoding
    return None


def _decode_strictly(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise CorruptDocument(f"the text breaks the {encoding} encoding it announces") from error


def _decode_without_bom(data: bytes, declared: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared:
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    return _detected(data)


def _detected(data: bytes) -> str:
    """Decode by charset_normalizer's guess, leaning to windows-1252 when it fits nearly as well.

    Short Western European texts fit several legacy code pages almost equally; windows-1252 is
    by far the most common of them (and the web's default), so a near tie goes its way.
    """
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnsupportedMediaType(
            "the file is not UTF-8 and no other text encoding fits it with confidence"
        )
    for match in matches:
        if _WESTERN in match.could_be_from_charset and match.chaos <= best.chaos + _NEAR_TIE:
            return str(match)
    return str(best)


def _refuse_control_characters(text: str) -> None:
    sample = text[:_CONTROL_SAMPLE]
    if len(_CONTROL.findall(sample)) > _MAX_CONTROL_RATIO * len(sample):
        raise UnsupportedMediaType("the file is binary (full of control characters), not text")
