"""Blob storage adapters: a local folder, or an S3-compatible bucket."""

from infrastructure.storage.local import LocalBlobStorage
from infrastructure.storage.s3 import S3BlobStorage, S3Timeouts, make_s3_client

__all__ = ["LocalBlobStorage", "S3BlobStorage", "S3Timeouts", "make_s3_client"]
