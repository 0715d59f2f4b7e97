"""`python -m bench`: run the benchmark (see `python -m bench --help`)."""

from bench.paths import ensure_importable

ensure_importable()

from bench.cli import main  # noqa: E402

raise SystemExit(main())
