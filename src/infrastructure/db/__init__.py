"""db adapters."""
