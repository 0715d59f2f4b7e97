"""Turning text bytes into `str` without assuming an encoding."""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Iterator

from charset_normalizer import CharsetMatch, from_bytes

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
#: The bytes decoded at a time by `text_pieces`.
PIECE_BYTES = 1 << 16
#: How far back from a piece's end a place to cut it is looked for.
_CUT_SEARCH_CHARS = 1 << 12
#: Where a piece may end, best first: a blank line, a line break, a space.
_CUTS = (re.compile(r"\n[^\S\n]*\n\s*"), re.compile(r"\s*\n\s*"), re.compile(r"\s+"))


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


def text_pieces(data: bytes, declared: str | None = None) -> Iterator[str]:
    """`data` as text, as `decode_text` reads it, in pieces of about `PIECE_BYTES` decoded one
    at a time, so the whole text never sits beside the bytes.

    A piece ends at a blank line, else a line break, else a space, near its end; the run of
    whitespace it ends at is left out (joining the pieces with a blank line gives back the
    text's paragraphs, if not its exact whitespace there). The encoding is settled before the
    first piece: a file that is not entirely UTF-8 is read by `declared` or charset detection.
    Raises as `decode_text` does; `CorruptDocument` possibly only once some pieces are out.
    """
    encoding = evident_encoding(data)
    if not encoding:
        refuse_nul_bytes(data)
        encoding = _fitting_encoding(data, declared)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    carry = ""
    for start in range(0, len(data), PIECE_BYTES):
        final = start + PIECE_BYTES >= len(data)
        try:
            text = carry + decoder.decode(memoryview(data)[start : start + PIECE_BYTES], final)
        except UnicodeDecodeError as error:
            raise CorruptDocument(f"the text breaks the {encoding} encoding it is in") from error
        _refuse_nul_characters(text)
        if start == 0:
            _refuse_control_characters(text)
        if final:
            yield text
            return
        piece_end, carry_start = _cut(text)
        yield text[:piece_end]
        carry = text[carry_start:]


def _cut(text: str) -> tuple[int, int]:
    """Where the piece cut from the front of `text` ends, and where the rest, carried over to
    the next piece, begins: around the last blank line (else line break, else space) near the
    end of `text`, or at its very end when there is none."""
    near_end = max(0, len(text) - _CUT_SEARCH_CHARS)
    for pattern in _CUTS:
        last = deque(pattern.finditer(text, near_end), maxlen=1)
        if last and last[0].start() > 0:
            return last[0].start(), last[0].end()
    return len(text), len(text)


def _fitting_encoding(data: bytes, declared: str | None) -> str:
    """UTF-8 if all of `data` is, else `declared` if all of it is, else charset detection's."""
    for encoding in ("utf-8", declared):
        if encoding and _decodes(data, encoding):
            return encoding
    return _detected(data).encoding


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether all of `data` is `encoding`, found a piece at a time (nothing is kept)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        for start in range(0, len(data), PIECE_BYTES):
            decoder.decode(memoryview(data)[start : start + PIECE_BYTES])
        decoder.decode(b"", True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


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
    return str(_detected(data))


def _detected(data: bytes) -> CharsetMatch:
    """charset_normalizer's guess, leaning to windows-1252 when it fits nearly as well.

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
            return match
    return best


def _refuse_control_characters(text: str) -> None:
    sample = text[:_CONTROL_SAMPLE]
    if len(_CONTROL.findall(sample)) > _MAX_CONTROL_RATIO * len(sample):
        raise UnsupportedMediaType("the file is binary (full of control characters), not text")
