"""Getting uploaded documents from storage into searchable chunks."""

from application.usecases.ingestion.fail_crashed_attempt import FailCrashedAttempt
from application.usecases.ingestion.process_uploaded_document import (
    ProcessDocument,
    ProcessingOutcome,
    ProcessUploadedDocument,
)
from application.usecases.ingestion.recover_abandoned_work import (
    RecoverAbandonedWork,
    RecoveryReport,
)
from application.usecases.ingestion.requeue_failed_documents import (
    RequeueFailed,
    RequeueFailedDocuments,
)
from application.usecases.ingestion.submit_document import SubmitDocument, SubmitUpload

__all__ = [
    "FailCrashedAttempt",
    "ProcessDocument",
    "ProcessUploadedDocument",
    "ProcessingOutcome",
    "RecoverAbandonedWork",
    "RecoveryReport",
    "RequeueFailed",
    "RequeueFailedDocuments",
    "SubmitDocument",
    "SubmitUpload",
]
