"""`python -m cli` is `ingest`."""

import sys

from cli.main import main

sys.exit(main())
