"""Use cases: one per module, a verb-noun class with one method taking a command."""
