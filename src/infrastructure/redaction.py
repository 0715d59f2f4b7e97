"""Masking of secrets in text that leaves the process (log lines, HTTP bodies).

Four kinds of secret are masked: the password part of a URL's user info
(`postgresql://user:secret@host` -> `postgresql://user:***@host`, `redis://:secret@host`),
`key=value` pairs whose key names a secret (`password=...`, `token=...`, libpq keyword DSNs,
query strings), credentials of an `Authorization` header of any scheme (and bearer tokens or
HTTP Basic credentials on their own), and any value registered with `register_secret`.
`masked_url` applies the URL rule alone, to show a configured URL; `redacted_excerpt` redacts a
bounded piece of a text that may be huge.

Every pattern runs in time linear in the text (each one can begin only where a word begins and
its repeated parts are bounded), so hostile text of megabytes cannot stall a process that logs.
"""

from __future__ import annotations

import base64
import re
import threading

from pydantic import SecretStr

MASK = "***"

#: Longest URL scheme, user name and password recognised: longer runs are not taken for a URL.
_SCHEME = r"(?<![a-zA-Z0-9+.\-])[a-zA-Z][a-zA-Z0-9+.\-]{0,31}"
_URL_PASSWORD = re.compile(
    rf"(?P<prefix>{_SCHEME}://[^:/@\s]{{0,256}}:)(?P<secret>[^/\s]{{0,1024}})@"
)
_SECRET_PAIR = re.compile(
    r"(?P<prefix>\b(?:password|passwd|pwd|secret|token|api_key|apikey|access_key"
    r"|secret_access_key)\s{0,16}[=:]\s{0,16})(?P<secret>[\"']?[^\s&;,\"']+[\"']?)",
    re.IGNORECASE,
)
#: An `Authorization` header (or a field of that name in JSON or a dict), its scheme if any.
_AUTHORIZATION = re.compile(
    r"(?P<prefix>\b(?:proxy-)?authorization[\"']?\s{0,16}[=:]\s{0,16}[\"']?"
    r"(?:(?:Basic|Bearer|Token|Digest|Negotiate|ApiKey|Key)\s{1,16})?)(?P<secret>[^\s,;\"']+)",
    re.IGNORECASE,
)
_BEARER = re.compile(
    r"(?P<prefix>\bBearer\s{1,16})(?P<secret>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE
)
#: HTTP Basic credentials: base64 of `user:password` (checked by decoding, see `_is_credential`).
_BASIC = re.compile(r"(?P<prefix>\bBasic\s{1,16})(?P<secret>[A-Za-z0-9+/]{4,}={0,2})(?![\w+/=])")

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
    """`text` with URL passwords, secret-named values, authorization credentials and known
    secrets masked."""
    for pattern in (_URL_PASSWORD, _SECRET_PAIR, _AUTHORIZATION, _BEARER, _BASIC):
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
    return pattern.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    if match.group("secret") == MASK or (match.re is _BASIC and not _is_credential(match)):
        return match.group(0)
    return match.group("prefix") + MASK + _tail(match)


def _is_credential(match: re.Match[str]) -> bool:
    """Whether a `Basic <token>` is HTTP Basic credentials (base64 of `user:password`) rather
    than the word "basic" before another."""
    try:
        decoded = base64.b64decode(match.group("secret"), validate=True)
    except ValueError:
        return False
    return b":" in decoded


def _tail(match: re.Match[str]) -> str:
    return "@" if match.re is _URL_PASSWORD else ""
