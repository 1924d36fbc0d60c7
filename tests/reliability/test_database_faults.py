"""PostgreSQL restarted under load: requests in flight fail cleanly (a 5xx with Stripe's error body,
never a hang or a dropped connection), the server and the worker recover by themselves (the pool
pre-pings), and nothing is half-written."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from tenure.config import Settings
from tenure.consistency import check_store
from tenure.customers.models import Customer
from tenure.db.migrate import upgrade
from tenure.events.models import Event
from tenure.keys.service import create_key
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription
from tenure.testing.pgcluster import PgCluster, PostgresUnavailable
from tests.conftest import IN_CI
from tests.webhooks.conftest import Receiver, wait_for

from .drive import Shop, tenure_env
from .processes import Worker, server

THREADS = 6
# A request slower than this is a hang (the pool's own checkout timeout is 30 s).
CLIENT_TIMEOUT = 60.0


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A cluster of the test's own: restarting the suite's shared one would break other tests."""
    try:
        started = PgCluster.start()
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield started
    finally:
        started.stop()


@dataclass(frozen=True)
class Answer:
    started: float
    status: int | None  # None: no HTTP answer at all (timeout, connection dropped)
    body: str


def _stripe_error(answer: Answer) -> bool:
    try:
        error = json.loads(answer.body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and error.get("type") == "api_error" and bool(error.get("message"))


class Load:
    """Threads that each create a customer, subscribe it and cancel with a reason, over and over.
    Every step carries an Idempotency-Key and is retried on a 5xx until it succeeds."""

    def __init__(self, api: httpx.Client, shop: Shop) -> None:
        self.api, self.shop = api, shop
        self.answers: list[Answer] = []
        self.canceled: dict[str, str] = {}
        self.customers = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _post(self, path: str, data: dict[str, str]) -> dict[str, object]:
        key = uuid.uuid4().hex
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                response = self.api.post(path, data=data, headers={"Idempotency-Key": key})
                answer = Answer(started, response.status_code, response.text)
            except httpx.HTTPError as exc:
                answer = Answer(started, None, f"{type(exc).__name__}: {exc}")
            with self._lock:
                self.answers.append(answer)
            if answer.status is not None and answer.status < 300:
                body: dict[str, object] = json.loads(answer.body)
                return body
            if answer.status is None or answer.status < 500:
                raise AssertionError(f"POST {path}: {answer.status} {answer.body[:300]}")
            time.sleep(0.2)
        raise AssertionError(f"POST {path} never succeeded again")

    def run(self, index: int) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            customer = self._post(
                "/v1/customers",
                {
                    "email": f"load{index}-{number}@example.com",
                    "payment_method": "pm_card_visa",
                    "invoice_settings[default_payment_method]": "pm_card_visa",
                },
            )
            with self._lock:
                self.customers += 1
            subscription = self._post(
                "/v1/subscriptions", {"customer": str(customer["id"]), "items[0][price]": self.shop.price}
            )
            reason = "too_expensive" if number % 2 else "switched_service"
            self._post(
                f"/v1/subscriptions/{subscription['id']}",
                {"cancel_at_period_end": "true", "cancellation_details[feedback]": reason},
            )
            with self._lock:
                self.canceled[str(subscription["id"])] = reason


def _wait_for_lock_waiter(cluster: PgCluster, database: str) -> None:
    # Autocommit: inside one transaction, pg_stat_activity answers from the snapshot of its first read.
    with psycopg.connect(
        f"host=127.0.0.1 port={cluster.port} user=postgres dbname={database}", autocommit=True
    ) as watcher:
        wait_for(
            lambda: bool(
                watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s",
                    (database,),
                ).fetchone()[0]
            ),
            timeout=30,
            what="the request to wait on the row lock",
        )


@pytest.mark.timeout(400)
def test_postgresql_restarted_under_load(cluster: PgCluster, tmp_path: Path) -> None:
    database = "tenure_faults"
    url = cluster.create_database(database)
    upgrade(url)
    runtime = Runtime.build(Settings(data_dir=tmp_path / "data", database_url=url, secret_key="test-secret"))
    with runtime.sessionmaker() as session:
        _key, secret = create_key(session, now=runtime.clock.now(), name="faults")
        session.commit()
    env = tenure_env(
        url,
        tmp_path / "data",
        TENURE_WEBHOOK_RETRY_SCHEDULE="1,1,3600",
        TENURE_WORKER_POLL_SECONDS="0.2",
        TENURE_RATE_LIMIT_API="0",
    )
    web = server(env, tmp_path)
    worker = Worker(env, tmp_path / "worker.log")
    receiver = Receiver()
    try:
        web.start(timeout=90)
        worker.start()
        api = httpx.Client(
            base_url=web.base_url,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=CLIENT_TIMEOUT,
            limits=httpx.Limits(max_connections=THREADS + 2),
        )
        api.post(
            "/v1/webhook_endpoints", data={"url": receiver.url, "enabled_events[]": "*"}
        ).raise_for_status()
        shop = Shop(api)
        held = shop.subscribe(shop.customer(0))
        load = Load(api, shop)
        with ThreadPoolExecutor(max_workers=THREADS + 1) as pool:
            runners = [pool.submit(load.run, index) for index in range(THREADS)]

            def load_has(condition: Callable[[], bool]) -> Callable[[], bool]:
                def check() -> bool:
                    for runner in runners:
                        if runner.done():
                            runner.result()  # a load thread that died says why
                    return condition()

                return check

            try:
                wait_for(load_has(lambda: len(load.canceled) >= THREADS), timeout=60, what="the load")
                # One request certainly in flight when PostgreSQL goes down: it waits on a row we hold.
                holder = psycopg.connect(
                    f"host=127.0.0.1 port={cluster.port} user=postgres dbname={database}"
                )
                try:
                    holder.execute("SELECT 1 FROM subscriptions WHERE id = %s FOR UPDATE", (held,))
                    in_flight = pool.submit(
                        api.post,
                        f"/v1/subscriptions/{held}",
                        data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "unused"},
                        headers={"Idempotency-Key": "held-during-restart"},
                    )
                    _wait_for_lock_waiter(cluster, database)
                    cluster.restart()
                finally:
                    holder.close()  # already cut off by the restart
                restarted = time.monotonic()
                cut_off = in_flight.result(timeout=CLIENT_TIMEOUT + 10)
                # The load goes on against the restarted database for a while.
                wait_for(
                    load_has(lambda: sum(a.started > restarted for a in load.answers) >= 30 * THREADS),
                    timeout=120,
                    what="requests after the restart",
                )
            finally:
                load.stop.set()
            for runner in runners:
                runner.result(timeout=CLIENT_TIMEOUT * 3)
        assert cut_off.status_code >= 500 and _stripe_error(Answer(0, cut_off.status_code, cut_off.text)), (
            cut_off.status_code,
            cut_off.text,
        )
        # The held request failed as a whole: retried with its key, it is applied now, once.
        retried = api.post(
            f"/v1/subscriptions/{held}",
            data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "unused"},
            headers={"Idempotency-Key": "held-during-restart"},
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["cancellation_details"]["feedback"] == "unused"

        failed = [a for a in load.answers if a.status is None or a.status >= 300]
        assert all(a.status is not None and a.status >= 500 and _stripe_error(a) for a in failed), failed[:5]
        # Recovered by itself: once PostgreSQL was back, no request failed.
        assert [a for a in failed if a.started > restarted] == []
        assert web.process is not None and web.process.poll() is None, "the server must not have died"

        with runtime.sessionmaker() as session:
            assert check_store(session) == []
            assert session.scalar(select(func.count()).select_from(Customer)) == load.customers + 1
            for subscription_id, reason in load.canceled.items():
                found = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
                assert found is not None and found.cancel_at_period_end
                assert found.cancellation_details["feedback"] == reason

        # The worker carried on too: every event is delivered.
        def settled() -> bool:
            with runtime.sessionmaker() as session:
                return check_store(session, settled=True, now=runtime.clock.now()) == []

        wait_for(settled, timeout=150, what="every event delivered after the restart")
        assert worker.running, worker.log_tail()
        delivered = {json.loads(r.body)["id"] for r in receiver.snapshot() if r.status < 300}
        with runtime.sessionmaker() as session:
            assert set(session.scalars(select(Event.id))) <= delivered
        api.close()
    except AssertionError:
        print("server log:", web.log_tail(3000), "\nworker log:", worker.log_tail(3000))
        raise
    finally:
        worker.stop()
        web.stop()
        receiver.close()
        runtime.close()
