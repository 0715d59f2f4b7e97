"""Getting uploaded documents from storage into searchable chunks."""

from application.usecases.ingestion.process_uploaded_document import (
    ProcessDocument,
    ProcessingOutcome,
    ProcessUploadedDocument,
)
from application.usecases.ingestion.recover_abandoned_documents import (
    RecoverAbandonedDocuments,
    RecoveryReport,
)
from application.usecases.ingestion.requeue_failed_documents import (
    RequeueFailed,
    RequeueFailedDocuments,
)
from application.usecases.ingestion.resume_abandoned_jobs import (
    ResumeAbandonedJobs,
    ResumeReport,
)
from application.usecases.ingestion.submit_document import SubmitDocument, SubmitUpload

__all__ = [
    "ProcessDocument",
    "ProcessUploadedDocument",
    "ProcessingOutcome",
    "RecoverAbandonedDocuments",
    "RecoveryReport",
    "RequeueFailed",
    "RequeueFailedDocuments",
    "ResumeAbandonedJobs",
    "ResumeReport",
    "SubmitDocument",
    "SubmitUpload",
]
