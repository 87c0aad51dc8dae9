"""`python -m bench.cli ...` runs the same command as the `bench` script."""

import sys

from bench.cli.main import main

sys.exit(main())
