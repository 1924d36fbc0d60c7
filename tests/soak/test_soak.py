"""The crash-consistency soak, on SQLite and on PostgreSQL (see soak.py and docs/reliability.md)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from bench.procs import BenchError
from bench.stack import Workspace

from tests.conftest import IN_CI

from .soak import Config, run_soak, summary_row

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "test-artifacts" / "soak"
DATABASES = [db for db in ("sqlite", "postgresql") if os.environ.get("TENURE_SOAK_DB", db) == db]


def _log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", DATABASES)
def test_kill_9_rounds_lose_no_acknowledged_cancellation_and_no_event(kind: str, tmp_path: Path) -> None:
    config = Config(
        rounds=int(os.environ.get("TENURE_SOAK_ROUNDS", "5")),
        seed=int(os.environ.get("TENURE_SOAK_SEED", str(Config.seed))),
    )
    workspace = Workspace(root=tmp_path / "work", logs=tmp_path / "logs")
    try:
        try:
            store = workspace.new_store(kind, "soak")
        except BenchError as exc:
            if IN_CI or kind == "sqlite":
                raise
            pytest.skip(str(exc))
        figures = run_soak(store, config, _log, log_dir=tmp_path / "logs")
    finally:
        workspace.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    row = summary_row(figures)
    (RESULTS / f"{kind}.json").write_text(json.dumps({**row, "problems": figures.problems}, indent=2))
    _log(json.dumps(row))
    assert figures.server_kills == figures.worker_kills == config.rounds
    assert figures.acknowledged > 0 and figures.cut_off + figures.refused > 0  # the kills hit a busy server
    assert figures.problems == []
    assert (figures.lost, figures.wrong_reason, figures.undelivered_events, figures.hangs) == (0, 0, 0, 0)
