"""chunking adapters."""
