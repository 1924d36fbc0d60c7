"""Scenario 4 (and 5 for the worker): webhook deliveries per second to a local receiver.

Events are recorded through Tenure's own `record_event`, and its `webhooks` consumer queues one
delivery per endpoint (drained before the clock starts), for several endpoints that all point at
one receiver on loopback. Tenure's delivery pass (`deliver_due`, as the worker runs it) claims,
signs, posts and records every attempt; the floor posts the very same bodies with a bare httpx
async client at the same concurrency (Tenure's in-flight bound: `BATCH`, at most
`MAX_IN_FLIGHT_PER_ENDPOINT` per endpoint).
"""

from __future__ import annotations

import json
import sys
import time

import httpx
from sqlalchemy import func, select

from bench.context import Bench
from bench.procs import PYTHON, BenchError, Service, bench_env, free_port, run_json, run_together, running
from bench.report import Result
from bench.seed import api_client, runtime_for
from bench.stack import SECRET_KEY, Store

MIB = 1024 * 1024
TARGET = 0.7


def receiver(store: Store) -> Service:
    port = free_port()
    return Service(
        name="webhook receiver",
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floors.receiver:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=bench_env(),
        port=port,
        log_path=store.data_dir / "receiver.log",
        health_path="/count",
    )


def run(bench: Bench, db: str) -> None:
    store = bench.workspace.new_store(db, "webhooks")
    try:
        with running(receiver(store)) as hook:
            _run(bench, db, store, hook)
    finally:
        bench.workspace.drop(store)


def seed_events(store: Store, *, url: str, endpoints: int, deliveries: int) -> list[str]:
    """Endpoints for every event, and events until `deliveries` are queued; returns the bodies
    Tenure will send (one per delivery), for the floor."""
    from tenure import features
    from tenure.consumers import drain
    from tenure.events.models import Event
    from tenure.events.service import record_event
    from tenure.webhooks.delivery import event_payload
    from tenure.webhooks.models import WebhookDelivery

    features.load()
    secret = store.create_key()
    with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime:
        with api_client(runtime, secret) as client:
            customer = client.post(
                "/v1/customers", data={"email": "hooked@example.com", "name": "Hooked Customer"}
            ).json()
            for _ in range(endpoints):
                created = client.post("/v1/webhook_endpoints", data={"url": url, "enabled_events[]": "*"})
                if created.status_code >= 400:
                    raise BenchError(
                        f"POST /v1/webhook_endpoints answered {created.status_code}: {created.text}"
                    )
        events = -(-deliveries // endpoints)
        now = int(time.time())
        with runtime.sessionmaker() as session:
            for index in range(events):
                record_event(
                    session,
                    type="customer.updated",
                    obj={**customer, "name": f"Hooked Customer {index}"},
                    now=now,
                    previous={**customer, "name": "Hooked Customer"},
                )
                if index % 500 == 499:
                    session.commit()
            session.commit()
        drain(runtime, only=["webhooks"])
        with runtime.sessionmaker() as session:
            rows = session.execute(
                select(Event)
                .join(WebhookDelivery, WebhookDelivery.event_id == Event.id)
                .where(WebhookDelivery.status == "pending")
            ).scalars()
            return [event_payload(event).decode("utf-8") for event in rows]


def _count(store: Store, status: str) -> int:
    from tenure.webhooks.models import WebhookDelivery

    with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime, runtime.sessionmaker() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == status)
            )
            or 0
        )


def _run(bench: Bench, db: str, store: Store, hook: Service) -> None:
    from tenure.webhooks.delivery import BATCH, MAX_IN_FLIGHT_PER_ENDPOINT

    endpoints = bench.profile.webhook_endpoints
    url = f"{hook.base_url}/hooks"
    bench.log(
        f"webhooks [{db}]: queueing {bench.profile.webhook_deliveries:,} deliveries to {endpoints} endpoints"
    )
    bodies = seed_events(store, url=url, endpoints=endpoints, deliveries=bench.profile.webhook_deliveries)
    total = len(bodies)
    if total == 0:
        raise BenchError("no delivery was queued")
    before = int(httpx.get(f"{hook.base_url}/count").text)
    budget = bench.profile.webhook_budget_s
    reports = run_together(
        [PYTHON, "-m", "bench.worker", "webhooks"],
        copies=1,
        env={**store.env(), "BENCH_BUDGET_S": str(budget), **bench.profile_env(f"webhooks-{db}")},
        timeout=budget + 120,
        log_path=store.data_dir / "worker.log",
    )
    wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    stopped = any(r["stopped_at_budget"] for r in reports)
    succeeded = _count(store, "succeeded")
    received = int(httpx.get(f"{hook.base_url}/count").text) - before
    if not stopped and succeeded != total:
        raise BenchError(f"{succeeded} of {total} deliveries succeeded (the receiver got {received})")
    if succeeded == 0:
        raise BenchError(f"no delivery succeeded within {budget:.0f}s (the receiver got {received})")
    concurrency = min(BATCH, endpoints * MAX_IN_FLIGHT_PER_ENDPOINT)
    bench.log(
        f"  Tenure delivered {succeeded:,} of {total:,} in {wall:.2f}s; "
        f"floor: bare httpx at concurrency {concurrency}"
    )
    spec_path = store.data_dir / "sender.json"
    spec_path.write_text(json.dumps({"url": url, "bodies": bodies[:succeeded], "concurrency": concurrency}))
    floor = run_json(
        [PYTHON, "-m", "bench.floors.sender", str(spec_path)], env=bench_env(), timeout=budget + 120
    )
    if floor["failed"]:
        raise BenchError(f"the floor sender failed {floor['failed']} of {floor['sent']} posts")
    rate = succeeded / wall
    floor_rate = floor["sent"] / floor["seconds"]
    bench.add(
        Result(
            name=f"webhook deliveries ({total:,} queued, signed and recorded)",
            db=db,
            value=round(rate, 1),
            unit="deliveries/s",
            floor=round(floor_rate, 1),
            target=f"≥ {TARGET}× floor",
            target_met=rate >= TARGET * floor_rate,
            extra={
                "deliveries": total,
                "delivered": succeeded,
                "stopped_at_budget": stopped,
                "endpoints": endpoints,
                "concurrency": concurrency,
                "seconds": round(wall, 3),
                "floor_seconds": round(floor["seconds"], 3),
                "received": received,
            },
        )
    )
    bench.add(
        Result(
            name="worker peak RSS, webhook deliveries",
            db=db,
            value=round(max(r["peak_rss_bytes"] for r in reports) / MIB, 1),
            unit="MiB",
            floor=round(floor["peak_rss_bytes"] / MIB, 1),
            better="lower",
        )
    )
