"""`python -m bench`: see bench/cli.py and BENCHMARKS.md."""

from bench.cli import main

raise SystemExit(main())
