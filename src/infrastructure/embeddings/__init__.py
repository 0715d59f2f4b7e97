"""Embedders: hashing (offline default), sentence-transformers, OpenAI-compatible HTTP."""
