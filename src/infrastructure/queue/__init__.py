"""queue adapters."""
