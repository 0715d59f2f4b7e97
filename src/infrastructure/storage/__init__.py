"""Blob storage adapters: a local folder, or an S3-compatible bucket.

The S3 names load boto3 on first use, not with the package, so a worker on local storage never
pays for importing it.
"""

import importlib
from typing import TYPE_CHECKING, Any

from infrastructure.storage.local import LocalBlobStorage

if TYPE_CHECKING:
    from infrastructure.storage.s3 import S3BlobStorage, S3Timeouts, make_s3_client

_LAZY = frozenset({"S3BlobStorage", "S3Timeouts", "make_s3_client"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("infrastructure.storage.s3"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LocalBlobStorage", "S3BlobStorage", "S3Timeouts", "make_s3_client"]
