"""Scenario 3: `GET /v1/insights/cancellations` at 10k, 100k and 1M subscriptions, against DuckDB.

The store grows to each size by cloning (3 in 10 canceled, with reasons, comments and dates
spread over a year; the rest active). Tenure keeps a `cancellations` row beside each canceled
subscription and a daily rollup (`cancellation_days`), in the transaction of the change; clones
bypass that code, so the template is canceled through the API (Tenure writes its row), each
canceled clone gets a copy of that row with its own dates and reason, and the daily rollup is
recounted from those rows once per size (`tenure.insights.daily.rebuild`). Tenure's endpoint
is sampled one request at a time over the year that holds every cancellation; the floor
(bench.floors.insights) computes the same aggregates in DuckDB over the same subscriptions.

Until the endpoint exists (it answers 404), each size is reported `skipped`, and the DuckDB floor
still runs at the smallest size so that its code is exercised and its figure is on record.
"""

from __future__ import annotations

import importlib.util
import json
import random
import signal
import statistics
import time
from typing import Any

import httpx

from bench import profiles
from bench.context import Bench
from bench.procs import PYTHON, BenchError, run_json
from bench.report import Result
from bench.seed import api_client, clone_subscriptions, runtime_for, template_row, template_subscription
from bench.stack import SECRET_KEY, Store, serving
from tenure.consumers import drain
from tenure.insights import daily

PATH = "/v1/insights/cancellations"
FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
COMMENTS = ("Too pricey for what we use", "Moved to another tool", "We closed the project", "Missing SSO")
YEAR = 365 * 86_400
TARGET_MS = 300
# Issue #16: the report's p50 at the largest size at most this many times its p50 at the smallest.
GROWTH_TARGET = 2


NOT_CANCELED = {
    "status": "active",
    "cancel_at_period_end": False,
    "cancel_at": None,
    "canceled_at": None,
    "ended_at": None,
    "cancellation_details": {"comment": None, "feedback": None, "reason": None},
}


def _shape(seed: int) -> Any:
    rng = random.Random(seed)
    now = int(time.time())

    def shape(index: int, customer: dict[str, Any], row: dict[str, Any]) -> None:
        start = now - rng.randrange(30 * 86_400, 2 * YEAR)
        row.update(created=start, start_date=start, billing_cycle_anchor=start, **NOT_CANCELED)
        customer.update(created=start)
        if index % 10 < 3:
            canceled_at = max(start + 86_400, now - rng.randrange(0, YEAR))
            feedback = rng.choice(FEEDBACK)
            failed = rng.random() < 0.15
            row.update(
                status="canceled",
                canceled_at=canceled_at,
                ended_at=canceled_at,
                next_action_at=None,
                cancellation_details={
                    "feedback": None if failed else feedback,
                    "comment": rng.choice(COMMENTS) if feedback == "other" and not failed else None,
                    "reason": "payment_failed" if failed else "cancellation_requested",
                },
            )

    return shape


def _rollup(template: dict[str, Any]) -> Any:
    """The `cancellations` row Tenure keeps for a canceled subscription, from the template's."""

    def build(_customer: dict[str, Any], row: dict[str, Any]) -> dict[str, Any] | None:
        if row["canceled_at"] is None:
            return None
        details = row["cancellation_details"]
        return {
            **template,
            "subscription_id": row["id"],
            "customer_id": row["customer_id"],
            "canceled_at": row["canceled_at"],
            "ended_at": row["ended_at"],
            "started_at": row["start_date"],
            "tenure_days": max(row["canceled_at"] - row["start_date"], 0) // 86_400,
            "reason": details["reason"],
            "feedback": details["feedback"],
            "comment": details["comment"],
            "source": "dunning" if details["reason"] == "payment_failed" else template["source"],
        }

    return build


def _template(store: Store) -> tuple[str, str]:
    """A paying subscription canceled through the API (with a reason); returns (key, its id)."""
    secret = store.create_key()
    with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime, api_client(runtime, secret) as client:
        try:
            template = template_subscription(client)
        except LookupError as exc:
            raise BenchError(str(exc)) from None
        client.post(
            f"/v1/subscriptions/{template}",
            data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "too_expensive"},
        ).raise_for_status()
        # The insights' `cancellations` row is written after commit, by the event log's consumers
        # (the worker's work): the clones copy it, so it must exist first.
        drain(runtime)
    return secret, template


def _query() -> str:
    """The last year and a day: every seeded cancellation is in it."""
    return f"{PATH}?created%5Bgte%5D={int(time.time()) - YEAR - 86_400}&interval=month"


def _sample(base_url: str, secret: str, samples: int) -> dict[str, Any]:
    timings = []
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120
    ) as client:
        warm = client.get(_query())  # warm-up, and what it counted
        warm.raise_for_status()
        for _ in range(samples):
            began = time.perf_counter()
            client.get(_query()).raise_for_status()
            timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[min(len(timings) - 1, round(0.99 * len(timings)) - 1)], 2),
        "total": warm.json().get("total"),
    }


def _canceled_in_store(store: Store) -> int:
    with (
        runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime,
        runtime.engine.connect() as connection,
    ):
        count = connection.exec_driver_sql("SELECT count(*) FROM subscriptions WHERE canceled_at IS NOT NULL")
        return int(count.scalar_one())


def _floor(bench: Bench, store: Store, size: int) -> dict[str, Any]:
    if importlib.util.find_spec("duckdb") is None:
        raise BenchError("DuckDB is not installed: pip install -e '.[bench]'")
    spec_path = store.data_dir / f"insights-{size}.json"
    spec_path.write_text(
        json.dumps(
            {
                "url": store.url,
                "samples": bench.profile.insights_samples,
                "csv": str(store.data_dir / "subs.csv"),
            }
        )
    )
    return run_json([PYTHON, "-m", "bench.floors.insights", str(spec_path)], env=store.env(), timeout=900)


def run(bench: Bench, db: str) -> None:
    store = bench.workspace.new_store(db, "insights")
    try:
        _run(bench, db, store)
    finally:
        bench.workspace.drop(store)


def _run(bench: Bench, db: str, store: Store) -> None:
    secret, template = _template(store)
    with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime:
        try:
            rollup = template_row(runtime, "cancellations", subscription_id=template)
        except (KeyError, LookupError):
            rollup = None  # no rollup table (yet): the endpoint is probably missing too
    with serving(store) as server:
        status = httpx.get(
            server.base_url + PATH, headers={"Authorization": f"Bearer {secret}"}, timeout=60
        ).status_code
    available = status != 404
    if not available:
        bench.log(f"insights [{db}]: {PATH} answers 404; DuckDB floor alone at the smallest size")
    seeded = 0
    p50s: dict[int, float] = {}
    for number, size in enumerate(bench.profile.insights_sizes):
        name = f"GET {PATH} p50 at {size:,} subscriptions"
        if not available and number > 0:
            bench.add(
                Result(
                    name=name,
                    db=db,
                    value=None,
                    unit="ms",
                    floor=None,
                    better="lower",
                    skipped=f"endpoint not available ({PATH} answered 404)",
                )
            )
            continue
        bench.log(f"insights [{db}]: growing the store to {size:,} subscriptions")
        with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime:
            clone_subscriptions(
                runtime,
                template_subscription=template,
                count=size - seeded,
                shape=_shape(size),
                seed=size,
                companions={"cancellations": _rollup(rollup)} if rollup is not None else None,
            )
            # Clones bypass the code that keeps the daily rollup: recount it once, as after a restore.
            with runtime.sessionmaker() as session:
                daily.rebuild(session)
                session.commit()
        seeded = size
        floor = _floor(bench, store, size)
        extra = {"subscriptions": size, "floor_p99_ms": floor["p99_ms"], "floor_rows": floor["rows"]}
        if not available:
            bench.add(
                Result(
                    name=name,
                    db=db,
                    value=None,
                    unit="ms",
                    floor=floor["p50_ms"],
                    better="lower",
                    skipped=f"endpoint not available ({PATH} answered 404)",
                    extra=extra,
                )
            )
            continue
        with serving(store) as server:
            sampling = None
            if bench.profile_dir is not None and server.process is not None:
                raw = bench.profile_dir / f"insights-{size}-{db}.raw"
                sampling = (profiles.start(server.process.pid, seconds=60, raw_path=raw), raw)
            try:
                tenure = _sample(server.base_url, secret, bench.profile.insights_samples)
            except httpx.HTTPError as exc:
                raise BenchError(f"{PATH} failed at {size:,}: {exc}") from None
            finally:
                if sampling is not None:
                    process, raw = sampling
                    if process is not None:
                        process.send_signal(signal.SIGINT)  # py-spy writes what it has, as on Ctrl-C
                    profiles.finish(
                        process,
                        raw_path=raw,
                        out_path=raw.with_suffix(".txt"),
                        title=f"insights {size:,} {db}",
                    )
        # The figure means something only if the endpoint saw the seeded cancellations.
        in_store = _canceled_in_store(store)
        if tenure["total"] != in_store:
            raise BenchError(f"{PATH} counts {tenure['total']} cancellations, the store has {in_store}")
        extra["cancellations"] = in_store
        target = f"p50 < {TARGET_MS} ms and ≤ DuckDB" if size >= 1_000_000 else None
        met = tenure["p50_ms"] < TARGET_MS and tenure["p50_ms"] <= floor["p50_ms"] if target else None
        bench.add(
            Result(
                name=name,
                db=db,
                value=tenure["p50_ms"],
                unit="ms",
                floor=floor["p50_ms"],
                better="lower",
                target=target,
                target_met=met,
                extra=extra,
            )
        )
        p50s[size] = tenure["p50_ms"]
        bench.add(
            Result(
                name=f"GET {PATH} p99 at {size:,} subscriptions",
                db=db,
                value=tenure["p99_ms"],
                unit="ms",
                floor=floor["p99_ms"],
                better="lower",
                extra={"subscriptions": size},
            )
        )
    if len(p50s) > 1:
        small, large = min(p50s), max(p50s)
        bench.add(
            Result(
                name=f"GET {PATH} p50 at {large:,} vs {small:,} subscriptions",
                db=db,
                value=p50s[large],
                unit="ms",
                floor=p50s[small],
                baseline=f"{small:,} subscriptions",
                better="lower",
                target=f"≤ {GROWTH_TARGET}×",
                target_met=p50s[large] <= GROWTH_TARGET * p50s[small],
            )
        )
