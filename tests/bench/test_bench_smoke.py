"""The benchmark harness end to end at its smallest: it starts Tenure and the floor app, drives one
short load, stops everything and writes results of the documented shape. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# About 15 s on an idle 2-core machine; the bounds leave room for a machine busy with other work.
@pytest.mark.timeout(240)
def test_customers_scenario_writes_results_of_the_documented_shape(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "customers",
            "--db",
            "sqlite",
            "--duration",
            "1",
            "--concurrency",
            "4",
            "--no-peer",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    rows = json.loads((out / "latest.json").read_text())
    assert isinstance(rows, list) and rows
    for row in rows:
        assert {"name", "db", "value", "unit", "floor", "ratio"} <= row.keys()
    measured = {row["name"]: row for row in rows if "skipped" not in row}
    throughput = measured["POST /v1/customers c=4 throughput"]
    assert throughput["db"] == "sqlite" and throughput["unit"] == "req/s"
    assert isinstance(throughput["value"], float | int) and isinstance(throughput["floor"], float | int)
    assert {"POST /v1/customers c=4 p50", "POST /v1/customers c=4 p99"} <= measured.keys()
    assert any(row["unit"] == "MiB" for row in measured.values())
    peer = next(row for row in rows if row["name"] == "POST /v1/customers c=4 throughput vs localstripe")
    assert peer["skipped"] == "not run (--no-peer)"
    assert "| figure |" in (out / "latest.md").read_text()
