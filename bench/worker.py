"""The worker under measurement: `python -m bench.worker billing|webhooks` (store from `TENURE_*`).

It loads Tenure's features as `tenure worker` does, prints `ready`, waits for `go` on stdin (so
imports and connection set-up are not timed), runs Tenure's own pass until nothing is left
(`run_billing`, or `deliver_due` until every delivery has settled) and prints one JSON line:
the work done, its wall-clock window and the process's peak RSS.

`BENCH_BUDGET_S` bounds the run: past it the process reports and exits at once, like a worker
that crashed mid-run (its open transaction rolls back; the harness counts what was committed).
`BENCH_PROFILE=PATH` writes a pyinstrument profile of the timed part to PATH.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.rss import own_peak_rss_bytes
from tenure import features
from tenure.config import Settings
from tenure.runtime import Runtime


def _settled(runtime: Runtime) -> bool:
    from sqlalchemy import func, select

    from tenure.webhooks.models import DeliveryStatus, WebhookDelivery

    with runtime.sessionmaker() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
        )
    return not pending


def _billing(runtime: Runtime) -> int:
    from tenure.subscriptions.renew import run_billing

    return run_billing(runtime)


def _webhooks(runtime: Runtime) -> int:
    from tenure.webhooks.delivery import deliver_due

    done = 0
    idle_since: float | None = None
    while True:
        handled = deliver_due(runtime)
        done += handled
        if handled:
            idle_since = None
            continue
        # Nothing claimable: either all settled, or another worker holds the last leases.
        if _settled(runtime):
            return done
        idle_since = idle_since or time.time()
        if time.time() - idle_since > 60:
            return done
        time.sleep(0.02)


MODES: dict[str, Callable[[Runtime], int]] = {"billing": _billing, "webhooks": _webhooks}


def _report(mode: str, *, done: int | None, started: float, ended: float, stopped: bool) -> None:
    report: dict[str, Any] = {
        "mode": mode,
        "done": done,
        "started": started,
        "ended": ended,
        "stopped_at_budget": stopped,
        "peak_rss_bytes": own_peak_rss_bytes(),
    }
    print(json.dumps(report), flush=True)


class _OverBudget(Exception):
    pass


def _over_budget(_signum: int, _frame: Any) -> None:
    raise _OverBudget


def _profiled(
    work: Callable[[Runtime], int],
    runtime: Runtime,
    profiler: Any,
    *,
    budget: float | None,
    outcome: dict[str, int],
) -> bool:
    """Run `work` under the profiler in this thread; returns whether the budget stopped it."""
    signal.signal(signal.SIGALRM, _over_budget)
    if budget:
        signal.setitimer(signal.ITIMER_REAL, budget)
    profiler.start()
    try:
        outcome["done"] = work(runtime)
        return False
    except _OverBudget:
        return True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        profiler.stop()


def main(mode: str) -> int:
    if mode not in MODES:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    features.load()
    runtime = Runtime.build(Settings())
    with runtime.engine.connect():
        pass  # open the first connection before the clock starts
    budget = float(os.environ.get("BENCH_BUDGET_S", "0")) or None
    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_path:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    outcome: dict[str, int] = {}
    started = time.time()
    if profiler is None:
        thread = threading.Thread(target=lambda: outcome.update(done=MODES[mode](runtime)), daemon=True)
        thread.start()
        thread.join(budget)
        ended = time.time()
        stopped = thread.is_alive()
    else:
        # pyinstrument samples the thread that starts it: run in this one, stopped by an alarm.
        stopped = _profiled(MODES[mode], runtime, profiler, budget=budget, outcome=outcome)
        ended = time.time()
        Path(profile_path or "profile.txt").write_text(
            profiler.output_text(unicode=False, color=False, show_all=False)
        )
    _report(mode, done=outcome.get("done"), started=started, ended=ended, stopped=stopped)
    if stopped:
        os._exit(0)  # mid-batch, as a crash would: the open transaction rolls back
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
