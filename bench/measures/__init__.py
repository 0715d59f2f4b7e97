"""One module per measurement; each adds its samples to an `Outcome` of the report."""
