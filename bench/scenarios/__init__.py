"""The scenarios: one module each, `run(bench, db)` adds its results."""
