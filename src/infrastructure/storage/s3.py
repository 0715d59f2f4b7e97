"""Blobs kept as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from application.errors import (
    BlobNotFound,
    DependencyUnavailable,
    DocumentTooLarge,
    InvalidStorageKey,
)
from application.ports import BlobStorage
from application.ports.storage import check_key, shown_name

_MAX_KEY_BYTES = 1024
_BRIEF_CHARS = 300
_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}
_BAD_KEY_CODES = {"KeyTooLongError", "InvalidObjectName"}


@dataclass(frozen=True, slots=True)
class S3Timeouts:
    """How long to wait for the S3 endpoint, and how many attempts (first one included) per call."""

    connect_seconds: float = 5.0
    read_seconds: float = 30.0
    max_attempts: int = 3


def make_s3_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    timeouts: S3Timeouts | None = None,
) -> Any:
    """A boto3 S3 client; `None` arguments fall back to boto3's usual environment lookup.

    A custom `endpoint_url` (MinIO, Ceph, a local emulator) gets path-style addressing, which
    every S3-compatible server understands.
    """
    timeouts = timeouts or S3Timeouts()
    config = Config(
        connect_timeout=timeouts.connect_seconds,
        read_timeout=timeouts.read_seconds,
        retries={"total_max_attempts": timeouts.max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


class S3BlobStorage(BlobStorage):
    """Each key is an object in `bucket`; `client` is a boto3 S3 client (see `make_s3_client`).

    A PUT replaces an object atomically, so readers see the old bytes or the new. `get` reads
    the object's length from the response headers and closes the body unread when it is past
    `max_bytes` (`DocumentTooLarge`). A missing object is `BlobNotFound`; a key over S3's
    1,024-byte limit is `InvalidStorageKey`; connection failures, timeouts, throttling, 5xx,
    a missing bucket and denied access are `DependencyUnavailable` (a fault of the store or
    its configuration that a retry can outlive once fixed). botocore retries first.
    """

    def __init__(self, bucket: str, *, client: Any) -> None:
        self.bucket = bucket
        self._client = client

    def put(self, key: str, data: bytes) -> None:
        with _translated(self._key(key)):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        with _translated(self._key(key)):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            size = int(response["ContentLength"])
            if max_bytes is not None and size > max_bytes:
                body.close()
                raise DocumentTooLarge(
                    f"{shown_name(key)} is {size} bytes; the limit is {max_bytes}"
                )
            with body:
                data: bytes = body.read() if max_bytes is None else body.read(max_bytes + 1)
            if max_bytes is not None and len(data) > max_bytes:
                raise DocumentTooLarge(f"{shown_name(key)} is over the limit of {max_bytes} bytes")
            return data

    def size(self, key: str) -> int:
        with _translated(self._key(key)):
            response = self._client.head_object(Bucket=self.bucket, Key=key)
            return int(response["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    @staticmethod
    def _key(key: str) -> str:
        if len(check_key(key).encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
            raise InvalidStorageKey(f"storage key is longer than {_MAX_KEY_BYTES} bytes")
        return key


@contextmanager
def _translated(key: str) -> Iterator[None]:
    """Turn botocore errors into the application's storage errors."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND_CODES:
            raise BlobNotFound(f"nothing is stored under {shown_name(key)}") from error
        if code in _BAD_KEY_CODES:
            raise InvalidStorageKey(f"S3 refused the key {shown_name(key)}: {code}") from error
        detail = code or _brief(error)
        raise DependencyUnavailable(f"S3 failed for {shown_name(key)}: {detail}") from error
    except BotoCoreError as error:
        raise DependencyUnavailable(
            f"S3 is unreachable for {shown_name(key)}: {_brief(error)}"
        ) from error


def _brief(error: Exception) -> str:
    """botocore's text for `error`, cut short: it may quote the request's URL, key included."""
    text = str(error)
    return text if len(text) <= _BRIEF_CHARS else text[:_BRIEF_CHARS] + "…"
