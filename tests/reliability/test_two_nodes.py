"""Two nodes on one PostgreSQL: two `tenure serve --no-worker` and two `tenure worker` processes share a
database, as two machines behind a load balancer would (docs/deploy.md). What they share
must hold as if there were one of each:

- an API key's rate limit: requests spread over both servers get one bucket, not one per server;
- billing: every subscription due for renewal is invoiced exactly once, whichever worker claims it;
- webhooks: every event reaches each endpoint exactly once, whichever worker delivers it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import stripe
from bench.procs import Service
from bench.seed import api_client, clone_subscriptions, due_for_renewal, template_subscription
from sqlalchemy import func, select

from tenure.config import Settings
from tenure.db.migrate import upgrade
from tenure.events.models import Event
from tenure.invoices.models import Invoice
from tenure.keys.service import create_key
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.periods import next_boundary
from tenure.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.webhooks.conftest import Receiver

from .drive import tenure_env
from .processes import Worker, server

SECRET = "two-nodes-secret"
DAY = 86_400
DUE = 250  # subscriptions one period behind when the workers start
# What the endpoints listen to: two of a renewal's five events, which keeps the test short (the
# claims under test do not depend on the type).
LISTENED = ("invoice.created", "invoice.paid")
# The API limit under test: one bucket and two buckets differ by far (two would let at least 2 × BURST
# through), for as long as the probes take less than BURST / RATE = 80 s, however loaded the machine.
RATE, BURST = 0.1, 8
PROBES = 40  # requests sent alternately to both servers
DEADLINE = 120.0  # for the workers' billing and deliveries on a loaded machine (usually ~15 s)


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    """A fresh, migrated database of the test's own on the suite's PostgreSQL server."""
    name = f"tenure_two_nodes_{uuid.uuid4().hex[:8]}"
    base, _, _ = postgres_server_url.rpartition("/")
    plain = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed(runtime: Runtime, receiver_url: str) -> tuple[str, dict[str, str]]:
    """An API key for the rate-limit probes, two webhook endpoints (path -> signing secret) and `DUE`
    subscriptions whose period ended days ago (one made through the API, cloned in bulk)."""
    with runtime.sessionmaker() as session:
        _key, probe_secret = create_key(session, now=runtime.clock.now(), name="probes")
        _key, setup_secret = create_key(session, now=runtime.clock.now(), name="setup")
        session.commit()
    secrets: dict[str, str] = {}
    with api_client(runtime, setup_secret) as client:
        for path in ("/hooks/a", "/hooks/b"):
            created = client.post(
                "/v1/webhook_endpoints",
                data={
                    "url": receiver_url.removesuffix("/hooks") + path,
                    **{f"enabled_events[{n}]": kind for n, kind in enumerate(LISTENED)},
                },
            )
            assert created.status_code == 200, created.text
            secrets[path] = created.json()["secret"]
        template = template_subscription(client)
    now = int(time.time())
    anchor = now - 40 * DAY
    period_end = next_boundary(anchor, "month", 1, anchor)
    assert period_end < now - DAY

    clone_subscriptions(
        runtime, template_subscription=template, count=DUE, shape=due_for_renewal(anchor, period_end)
    )
    return probe_secret, secrets


def _wait(condition: Callable[[], bool], *, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def _probe_rate_limit(servers: list[Service], secret: str) -> None:
    """(a) Requests sent alternately to both servers: the 200s stay within one bucket's allowance."""
    answers: list[tuple[int, httpx.Response]] = []
    clients = [
        httpx.Client(base_url=web.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
        for web in servers
    ]
    try:
        started = time.monotonic()
        for number in range(PROBES):
            which = number % 2
            answers.append((which, clients[which].get("/v1/customers", params={"limit": 1})))
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
    statuses = [response.status_code for _which, response in answers]
    allowed = statuses.count(200)
    assert set(statuses) <= {200, 429}, statuses
    # A fresh key's bucket is full: the first BURST requests all pass, wherever they land…
    assert statuses[:BURST] == [200] * BURST, statuses
    # …and no more than one bucket refills meanwhile (two buckets would allow at least 2 × BURST).
    assert allowed <= BURST + RATE * elapsed, (allowed, elapsed, statuses)
    for which in (0, 1):
        # Each server refused the key before it had itself let BURST requests through.
        mine = [response.status_code for server, response in answers if server == which]
        assert 429 in mine and mine.count(200) < BURST, (which, mine)
    for _which, response in answers:
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "rate_limit"
            assert int(response.headers["Retry-After"]) >= 1


def _renewals(runtime: Runtime) -> dict[str, int]:
    with runtime.sessionmaker() as session:
        rows = session.execute(
            select(Invoice.subscription_id, func.count())
            .where(Invoice.billing_reason == "subscription_cycle")
            .group_by(Invoice.subscription_id)
        )
        return {str(subscription): int(count) for subscription, count in rows}


def _settled(runtime: Runtime, receiver: Receiver, paths: list[str]) -> bool:
    """Every event of the store received by every endpoint, and no delivery left to make."""
    with runtime.sessionmaker() as session:
        events = set(session.scalars(select(Event.id).where(Event.type.in_(LISTENED))))
        undelivered = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status != DeliveryStatus.SUCCEEDED)
        )
    received: dict[str, set[str]] = {path: set() for path in paths}
    for request in receiver.snapshot():
        received[request.path].add(json.loads(request.body)["id"])
    return bool(events) and undelivered == 0 and all(events <= ids for ids in received.values())


@pytest.mark.timeout(300)
def test_two_servers_and_two_workers_share_one_postgresql(database: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runtime = Runtime.build(
        Settings(data_dir=data_dir, database_url=database, secret_key=SECRET, webhook_allow_private=True)
    )
    receiver = Receiver()
    env = tenure_env(
        database,
        data_dir,
        secret=SECRET,
        TENURE_RATE_LIMIT_API=str(RATE),
        TENURE_RATE_LIMIT_API_BURST=str(BURST),
        TENURE_WORKER_POLL_SECONDS="0.2",
        TENURE_WEBHOOK_RETRY_SCHEDULE="1,1,2,5",
    )
    servers = [server(env, tmp_path / f"node{n}") for n in (1, 2)]
    workers = [Worker(env, tmp_path / f"node{n}" / "worker.log") for n in (1, 2)]
    try:
        # Servers first, from this thread: a child started by another thread would get SIGTERM when
        # that thread ends (`dying_with_parent` sets the kernel's parent-death signal, which follows the
        # forking thread).
        for web in servers:
            web.start(timeout=90)
        probe_secret, endpoint_secrets = _seed(runtime, receiver.url)
        for worker in workers:
            worker.start()
        _probe_rate_limit(servers, probe_secret)

        # (b) Each due subscription renewed once: one `subscription_cycle` invoice, a period ahead.
        _wait(lambda: len(_renewals(runtime)) >= DUE, what=f"{DUE} renewals")
        # (c) Every event delivered to both endpoints; then nothing may arrive twice.
        paths = sorted(endpoint_secrets)
        _wait(lambda: _settled(runtime, receiver, paths), what="every event delivered to both endpoints")

        renewals = _renewals(runtime)
        assert len(renewals) == DUE and set(renewals.values()) == {1}, Counter(renewals.values())
        with runtime.sessionmaker() as session:
            still_due = session.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(Subscription.status == "active", Subscription.current_period_end <= int(time.time()))
            )
            events = set(session.scalars(select(Event.id).where(Event.type.in_(LISTENED))))
        assert still_due == 0

        received = receiver.snapshot()
        per_endpoint = Counter((request.path, json.loads(request.body)["id"]) for request in received)
        duplicates = {key: count for key, count in per_endpoint.items() if count > 1}
        assert not duplicates, duplicates
        assert set(per_endpoint) == {(path, event) for path in paths for event in events}
        assert all(request.status == 200 for request in received)
        for request in received:
            verified = stripe.Webhook.construct_event(  # signed with the endpoint's own secret
                request.body,
                request.headers["stripe-signature"],
                endpoint_secrets[request.path],
                tolerance=3600,  # the signature is under test here, not how long the test took
            )
            assert verified.id == json.loads(request.body)["id"]
        # Each renewal's two, besides the template subscription's.
        assert len(events) >= 2 * DUE
    except BaseException:
        for number, (web, worker) in enumerate(zip(servers, workers, strict=True), start=1):
            print(f"--- node {number} server log:\n{web.log_tail(3000)}")
            print(f"--- node {number} worker log:\n{worker.log_tail(3000)}")
        raise
    finally:
        for worker in workers:
            worker.stop()
        for web in servers:
            web.stop()
        receiver.close()
        runtime.close()
