"""`python -m cli` is `ingest`."""

import sys

from cli.launch import main

sys.exit(main())
