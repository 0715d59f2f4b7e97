"""The stable dotted paths of the job functions: the contract with every enqueuer.

Anything that can put an RQ job with JSON arguments on the queue can drive the worker, as long as
it names one of these functions. The worker refuses to run any other callable.
"""

from __future__ import annotations

#: `process_document_job(document_id: str, workspace_id: str)`: both arguments are UUID strings.
PROCESS_DOCUMENT_JOB = "worker.jobs.process_document_job"

#: Every job function the worker will run.
ALLOWED_JOB_FUNCTIONS: frozenset[str] = frozenset({PROCESS_DOCUMENT_JOB})
