"""extraction adapters."""
