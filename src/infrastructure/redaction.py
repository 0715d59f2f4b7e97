"""Masking of secrets in text that leaves the process (log lines, HTTP bodies).

Three kinds of secret are masked: the password part of a URL's user info
(`postgresql://user:secret@host` -> `postgresql://user:***@host`, `redis://:secret@host`),
`key=value` pairs whose key names a secret (`password=...`, `token=...`, libpq keyword DSNs,
query strings), bearer tokens, and any value registered with `register_secret`.
`masked_url` applies the URL rule alone, to show a configured URL; `redacted_excerpt` redacts a
bounded piece of a text that may be huge.
"""

from __future__ import annotations

import re
import threading

from pydantic import SecretStr

MASK = "***"

_URL_PASSWORD = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^/\s]*)@")
_SECRET_PAIR = re.compile(
    r"(?P<prefix>\b(?:password|passwd|pwd|secret|token|api_key|apikey|access_key"
    r"|secret_access_key)\s*[=:]\s*)(?P<secret>[\"']?[^\s&;,\"']+[\"']?)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<prefix>\bBearer\s+)(?P<secret>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)

#: Characters redacted beyond the cut of an excerpt: longer than any secret or URL user info.
_MARGIN = 512

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in redacted text from now on (empty values are ignored)."""
    if value:
        with _lock:
            _registered.add(value)


def forget_secrets() -> None:
    """Drop every registered secret value."""
    with _lock:
        _registered.clear()


def masked_url(url: str | SecretStr | None) -> str:
    """The URL with the password of its user info masked, safe to log; `(embedded)` when unset
    (the service is then the embedded one)."""
    if url is None:
        return "(embedded)"
    raw = url.get_secret_value() if isinstance(url, SecretStr) else url
    return _masked(_URL_PASSWORD, raw)


def redact(text: str) -> str:
    """`text` with URL passwords, secret-named values, bearer tokens and known secrets masked."""
    for pattern in (_URL_PASSWORD, _SECRET_PAIR, _BEARER):
        text = _masked(pattern, text)
    with _lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def redacted_excerpt(text: str, limit: int, *, from_end: bool = False) -> str:
    """At most `limit` characters of `text` (its start, or with `from_end` its end), redacted,
    with an ellipsis where it was cut.

    Only the part kept, plus a margin so that a secret across the cut is still recognised, is
    redacted: a text of megabytes costs no more than one of `limit` characters.
    """
    kept = redact(text[-(limit + _MARGIN) :] if from_end else text[: limit + _MARGIN])
    if len(text) <= limit and len(kept) <= limit:
        return kept
    return "…" + kept[-limit:] if from_end else kept[:limit] + "…"


def _masked(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda match: match.group("prefix") + MASK + _tail(match), text)


def _tail(match: re.Match[str]) -> str:
    return "@" if match.re is _URL_PASSWORD else ""
