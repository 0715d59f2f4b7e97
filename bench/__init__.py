"""The benchmark harness: `python -m bench --size quick|full` from the repository root.

It builds a corpus of real documents, starts its own Postgres and Redis (or uses the ones
given), measures the worker against plain RQ and a hand-written baseline in one interleaved run,
and writes `docs/performance.md` and `bench/out/report-<size>.json`.
"""
