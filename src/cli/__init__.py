"""`ingest`, the operator's command line: migrate, submit files, look at documents and queues."""
