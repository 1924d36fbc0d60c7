"""`python -m bench [--quick] [--only NAME] [--db sqlite|postgres]`: run, stop everything, write results."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

from bench import peer
from bench.config import FULL, QUICK
from bench.context import Bench
from bench.procs import BenchError
from bench.report import RESULTS_DIR, machine, skipped, write
from bench.scenarios import api, billing, insights, webhooks
from bench.stack import Workspace

SCENARIOS = ("customers", "subscriptions", "portal", "billing", "insights", "webhooks")
GROUPS = {"api": {"customers", "subscriptions", "portal"}}
DBS = {"sqlite": "sqlite", "postgres": "postgresql", "postgresql": "postgresql"}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and short loads (under 5 minutes)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these scenarios (repeat or comma-separate): {', '.join(SCENARIOS)}, or api",
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="the store(s) to run on (default: both)",
    )
    parser.add_argument(
        "--duration", type=float, help="seconds of load per measurement (overrides the profile)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help="concurrency levels of the API load (repeat; default 1, 16 and 64)",
    )
    parser.add_argument(
        "--billing-size",
        type=int,
        action="append",
        metavar="N",
        help="due subscriptions of the billing run (repeat; default 10,000 and 100,000, 1,000 with --quick)",
    )
    parser.add_argument("--no-peer", action="store_true", help="do not install and run localstripe")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile Tenure: py-spy on the server at c=16, pyinstrument in the workers (OUT/profiles/)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where latest.json and latest.md go")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the SQL each floor runs, in order, on a throwaway SQLite store (PostgreSQL with "
        "--db postgres), and exit",
    )
    args = parser.parse_args(argv)
    selected: set[str] = set()
    for item in args.only or list(SCENARIOS):
        for name in item.split(","):
            name = name.strip()
            if name in GROUPS:
                selected |= GROUPS[name]
            elif name in SCENARIOS:
                selected.add(name)
            else:
                parser.error(f"unknown scenario {name!r}: choose from {', '.join(SCENARIOS)} or api")
    args.selected = selected
    args.dbs = ["sqlite", "postgresql"] if args.db == "both" else [DBS[args.db]]
    return args


def _on_term(_signum: int, _frame: FrameType | None) -> None:
    # Unwind through every `finally`, which stops the servers this run started.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    profile = QUICK if args.quick else FULL
    if args.duration:
        profile = replace(profile, api_duration_s=args.duration, api_warmup_s=min(profile.api_warmup_s, 0.5))
    if args.concurrency:
        profile = replace(profile, concurrencies=tuple(args.concurrency))
    if args.billing_size:
        profile = replace(profile, billing_sizes=tuple(sorted(set(args.billing_size))))
    signal.signal(signal.SIGTERM, _on_term)
    if args.explain:
        from bench import explain

        return explain.main("postgresql" if args.db == "postgres" else "sqlite")
    started = time.time()
    load_at_start = os.getloadavg()
    logs = args.out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="tenure-bench-")), logs=logs)
    bench = Bench(profile=profile, dbs=args.dbs, workspace=workspace, selected=args.selected)
    if args.profile:
        bench.profile_dir = args.out / "profiles"
        bench.profile_dir.mkdir(parents=True, exist_ok=True)
    bench.log(
        f"{profile.name} run of {', '.join(sorted(args.selected))} on {', '.join(args.dbs)} "
        f"in {workspace.root}"
    )
    failures = 0

    def attempt(label: str, db: str, step: Callable[[], None]) -> None:
        nonlocal failures
        try:
            step()
        except BenchError as exc:
            bench.add(skipped(f"{label} scenario", db, "", f"could not run: {exc}"))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            failures += 1
            traceback.print_exc()
            bench.add(skipped(f"{label} scenario", db, "", f"failed: {type(exc).__name__}: {exc}"))

    try:
        if bench.wants("customers") and args.no_peer:
            bench.peer = "not run (--no-peer)"
        elif bench.wants("customers"):
            attempt("localstripe peer", "memory", lambda: peer.measure(bench))
        for db in args.dbs:
            if bench.wants("customers", "subscriptions", "portal"):
                attempt("api", db, lambda db=db: api.run(bench, db))
        for db in args.dbs:
            if bench.wants("billing"):
                attempt("billing", db, lambda db=db: billing.run(bench, db))
        for db in args.dbs:
            if bench.wants("webhooks"):
                attempt("webhooks", db, lambda db=db: webhooks.run(bench, db))
        for db in args.dbs:
            if bench.wants("insights"):
                attempt("insights", db, lambda db=db: insights.run(bench, db))
    except KeyboardInterrupt:
        bench.log("interrupted: stopping everything and writing what was measured")
        failures += 1
    finally:
        workspace.close()
        meta = {
            "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
            "profile": profile.name,
            "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "elapsed_s": round(time.time() - started, 1),
            "machine": machine(),
            # Other work on the machine skews every figure: the load average before and after.
            "loadavg_1_5_15_start": [round(x, 2) for x in load_at_start],
            "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
            "loadgen_ceiling_rps": bench.ceiling,
            "peer": peer.version() if isinstance(bench.peer, dict) else bench.peer,
        }
        json_path, md_path = write(bench.results, meta=meta, directory=args.out)
        bench.log(f"wrote {json_path} and {md_path} in {meta['elapsed_s']} s")
    return 1 if failures else 0
