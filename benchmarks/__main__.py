"""``python -m benchmarks``: run every ``benchmarks/bench_*.py`` (see :mod:`benchmarks.runner`)."""

import sys

from benchmarks.runner import main

sys.exit(main())
