"""Tenure's benchmark harness: `python -m bench [--quick] [--only NAME] [--db sqlite|postgres]`.

Every figure is measured against a floor (the same work done the plainest way) in the same run;
see BENCHMARKS.md.
"""
