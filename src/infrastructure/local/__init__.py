"""local adapters."""
