"""Embedded services for the zero-config default: Postgres with pgvector, and Redis."""
