"""The state one `python -m bench` run shares between scenarios."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import Profile
from bench.procs import PYTHON, bench_env, run_json
from bench.report import Result
from bench.stack import Workspace


def _stderr(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    profile: Profile
    dbs: list[str]
    workspace: Workspace
    selected: set[str]
    results: list[Result] = field(default_factory=list)
    log: Callable[[str], None] = _stderr
    # The load generator against a server doing nothing, per concurrency (req/s).
    ceiling: dict[int, float] = field(default_factory=dict)
    # localstripe's POST /v1/customers per concurrency, or why it could not run.
    peer: dict[int, dict[str, Any]] | str | None = None
    # Where profiles go (`--profile`), or None.
    profile_dir: Path | None = None
    _specs: int = 0

    def wants(self, *names: str) -> bool:
        return any(name in self.selected for name in names)

    def add(self, result: Result) -> None:
        self.results.append(result)
        shown = "skipped: " + result.skipped if result.skipped else f"{result.value} {result.unit}"
        floor = "" if result.skipped else f" (baseline {result.floor}, ratio {result.ratio})"
        self.log(f"  {result.name} [{result.db}]: {shown}{floor}")

    def load(
        self,
        port: int,
        requests: list[dict[str, Any]],
        *,
        concurrency: int,
        warmup: float | None = None,
        duration: float | None = None,
        max_requests: int | None = None,
    ) -> dict[str, Any]:
        """Drive `requests` (cycled) at `port` from a separate process; returns its measurements."""
        self._specs += 1
        spec_path = self.workspace.root / f"load-{self._specs:03d}.json"
        warmup = self.profile.api_warmup_s if warmup is None else warmup
        duration = self.profile.api_duration_s if duration is None else duration
        spec = {
            "port": port,
            "requests": requests,
            "concurrency": concurrency,
            "warmup": warmup,
            "duration": duration,
            "timeout": 30,
            "max_requests": max_requests or 0,
        }
        spec_path.write_text(json.dumps(spec))
        return run_json(
            [PYTHON, "-m", "bench.load", str(spec_path)],
            env=bench_env(),
            timeout=warmup + duration + 90,
        )

    def profile_env(self, name: str) -> dict[str, str]:
        """`BENCH_PROFILE` for a worker process when profiling is on (see bench.worker)."""
        if self.profile_dir is None:
            return {}
        return {"BENCH_PROFILE": str(self.profile_dir / f"{name}.txt")}

    def scratch(self, name: str) -> Path:
        path = self.workspace.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path
