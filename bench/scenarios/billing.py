"""Scenario 2 (and 5 for the worker): a billing run over N due subscriptions.

N paying subscriptions (one made through the API, cloned in bulk) whose monthly period ended
minutes ago: a real book's renewal day, plain renewals that the billing run does set-based
(`tenure.subscriptions.renew_batch`; the scenario refuses to measure a book it would not).
Tenure's own `run_billing` renews them from separate worker processes (one on SQLite, whose
writes serialize anyway; one per core on PostgreSQL, which is how Tenure scales its billing
run): each renewal is an invoice and its line, a charge on the test processor, five events and
the subscription's new period. The floor inserts the very rows that run wrote, with plain bulk
SQL, into a copy of the store taken before the run.
"""

from __future__ import annotations

import json
import sqlite3
import time

from sqlalchemy import func, inspect, select

import tenure.models as models
from bench.context import Bench
from bench.procs import PYTHON, BenchError, run_json, run_together
from bench.report import Result
from bench.seed import api_client, clone_subscriptions, due_for_renewal, runtime_for, template_subscription
from bench.stack import SECRET_KEY, Store
from tenure.runtime import Runtime
from tenure.subscriptions import renew_batch
from tenure.subscriptions.periods import add_months, next_boundary
from tenure.subscriptions.renew import BATCH

MIB = 1024 * 1024
DAY = 86_400
WORKERS = {"sqlite": 1, "postgresql": 2}
# Issue #16, on PostgreSQL: at least this many renewals/s, at least this share of the floor's rate,
# and as many per second with the largest book as with the smallest.
RENEWALS_TARGET = 1_000
FLOOR_SHARE_TARGET = 0.5
FLAT_TARGET = 0.9


def run(bench: Bench, db: str) -> None:
    rates: dict[int, float] = {}
    for size in bench.profile.billing_sizes:
        store = bench.workspace.new_store(db, f"billing{size}")
        try:
            rates[size] = _run(bench, db, store, size)
        finally:
            _drop_snapshot(bench, store)
            bench.workspace.drop(store)
    if len(rates) > 1:
        small, large = min(rates), max(rates)
        bench.add(
            Result(
                name=f"billing run, renewals/s at {large:,} vs {small:,} due subscriptions",
                db=db,
                value=round(rates[large], 1),
                unit="renewals/s",
                floor=round(rates[small], 1),
                baseline=f"{small:,} due",
                target=f"≥ {FLAT_TARGET}× (flat)" if db == "postgresql" else None,
                target_met=rates[large] >= FLAT_TARGET * rates[small] if db == "postgresql" else None,
            )
        )


def seed_due(store: Store, size: int) -> str:
    """`size` active subscriptions whose period ended minutes ago, all plain renewals; returns the
    template's id."""
    secret = store.create_key()
    with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime:
        with api_client(runtime, secret) as client:
            try:
                template = template_subscription(client)
            except LookupError as exc:
                raise BenchError(str(exc)) from None
        now = int(time.time())
        # A month before five minutes ago (the day clamped at the end of a longer month, when the
        # period ends up to three days ago).
        anchor = add_months(now - 300, -1)
        period_end = next_boundary(anchor, "month", 1, anchor)
        if not now - 4 * DAY < period_end <= now - 60:
            raise BenchError("the seeded period does not end just before now")

        clone_subscriptions(
            runtime, template_subscription=template, count=size, shape=due_for_renewal(anchor, period_end)
        )
        _refuse_general_path(runtime, now=int(time.time()))
    return template


def _refuse_general_path(runtime: Runtime, *, now: int) -> None:
    """The figure is the set-based path's: a batch as the run claims it must hold plain renewals
    only (the clones are alike, so the first batch stands for them all)."""
    with runtime.sessionmaker() as session:
        batch = renew_batch.claim(session, now=now, limit=BATCH)
        _plain, general = renew_batch.classify(batch, renew_batch.read_book(session, batch), now=now)
        session.rollback()
    if not batch or general:
        reasons = sorted({str(reason) for reason in general.values()})
        raise BenchError(f"the seeded book is not plain renewals ({len(batch)} due; general path: {reasons})")


def _max_pks(store: Store) -> dict[str, int]:
    """The highest pk of every table the store really has (other features' models may be ahead)."""
    with (
        runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime,
        runtime.engine.connect() as connection,
    ):
        inspector = inspect(connection)
        return {
            name: int(connection.exec_driver_sql(f'SELECT coalesce(max(pk), 0) FROM "{name}"').scalar_one())
            for name in inspector.get_table_names()
            if any(column["name"] == "pk" for column in inspector.get_columns(name))
        }


def snapshot(bench: Bench, store: Store) -> str:
    """A copy of the store as it is now (the floor's target); returns its URL."""
    if store.kind == "sqlite":
        path = store.url.split(":///", 1)[1]
        copy = store.data_dir / "floor.sqlite3"
        with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        return f"sqlite:///{copy}"
    import psycopg

    name = store.url.rsplit("/", 1)[1]
    cluster = bench.workspace.cluster()
    with psycopg.connect(
        f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True
    ) as connection:
        connection.execute(f'CREATE DATABASE "{name}_floor" TEMPLATE "{name}"')
    return cluster.url(f"{name}_floor")


def _drop_snapshot(bench: Bench, store: Store) -> None:
    if store.kind != "postgresql":
        return
    import psycopg

    name = store.url.rsplit("/", 1)[1]
    cluster = bench.workspace.cluster()
    with psycopg.connect(
        f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}_floor" WITH (FORCE)')


def _renewed(store: Store) -> int:
    invoices = models.Base.metadata.tables["invoices"]
    with (
        runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime,
        runtime.engine.connect() as connection,
    ):
        return int(
            connection.execute(
                select(func.count())
                .select_from(invoices)
                .where(invoices.c.billing_reason == "subscription_cycle")
            ).scalar_one()
        )


def _run(bench: Bench, db: str, store: Store, size: int) -> float:
    """Measure one size; returns Tenure's renewals/s."""
    bench.log(f"billing [{db}] {size:,} due subscriptions: seeding")
    began = time.monotonic()
    seed_due(store, size)
    floor_target = snapshot(bench, store)
    since = _max_pks(store)
    bench.log(f"  seeded in {time.monotonic() - began:.1f}s; running Tenure's billing run")
    workers = WORKERS[db]
    budget = bench.profile.billing_budget_s
    reports = run_together(
        [PYTHON, "-m", "bench.worker", "billing"],
        copies=workers,
        env={**store.env(), "BENCH_BUDGET_S": str(budget), **bench.profile_env(f"billing-{size}-{db}")},
        timeout=budget + 120,
        log_path=store.data_dir / "worker.log",
    )
    wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    stopped = any(r["stopped_at_budget"] for r in reports)
    renewed = _renewed(store)
    if not stopped and renewed != size:
        raise BenchError(f"the billing run renewed {renewed} of {size} subscriptions")
    if renewed == 0:
        raise BenchError(f"the billing run renewed nothing within {budget:.0f}s")
    bench.log(
        f"  Tenure renewed {renewed:,} in {wall:.2f}s{' (stopped at its budget)' if stopped else ''}; "
        "floor: the same rows with bulk SQL"
    )
    after = _max_pks(store)
    # Parents before children, so the floor's inserts satisfy the foreign keys as Tenure's did.
    order = [table.name for table in models.Base.metadata.sorted_tables]
    grown = {
        table: since[table]
        for table in sorted(since, key=lambda name: order.index(name) if name in order else len(order))
        if since[table] < after[table]
    }
    spec_path = store.data_dir / "bulk-floor.json"
    spec_path.write_text(json.dumps({"source": store.url, "target": floor_target, "since": grown}))
    floor = run_json(
        [PYTHON, "-m", "bench.floors.bulk", str(spec_path)], env=store.env(), timeout=budget + 300
    )
    rate = renewed / wall
    floor_rate = renewed / floor["seconds"]
    target, met = None, None
    if db == "postgresql":
        target = f"≥ {RENEWALS_TARGET:,} renewals/s and ≥ {FLOOR_SHARE_TARGET}× floor"
        met = rate >= RENEWALS_TARGET and rate >= FLOOR_SHARE_TARGET * floor_rate
    bench.add(
        Result(
            name=f"billing run, {size:,} due subscriptions",
            db=db,
            value=round(rate, 1),
            unit="renewals/s",
            floor=round(floor_rate, 1),
            target=target,
            target_met=met,
            extra={
                "subscriptions": size,
                "renewed": renewed,
                "stopped_at_budget": stopped,
                "seconds": round(wall, 3),
                "workers": workers,
                "floor_seconds": round(floor["seconds"], 3),
                "rows_written": floor["rows"],
            },
        )
    )
    bench.add(
        Result(
            name=f"worker peak RSS, billing run of {size:,}",
            db=db,
            value=round(max(r["peak_rss_bytes"] for r in reports) / MIB, 1),
            unit="MiB",
            floor=round(floor["peak_rss_bytes"] / MIB, 1),
            better="lower",
            extra={"workers": workers, "per_process": True},
        )
    )
    return rate
