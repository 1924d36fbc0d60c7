"""`kill -9` of a `tenure worker` during a burst: nothing lost, no attempt recorded twice."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.events.models import Event
from tenure.events.service import record_event
from tenure.runtime import Runtime
from tenure.webhooks.delivery import BATCH
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery

from .conftest import SCHEDULE, Receiver, wait_for

BURST = 500


class Worker:
    """`python -m tenure worker` on the test's database."""

    def __init__(self, database_url: str, tmp_path: Path, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
        env.update(
            TENURE_DATABASE_URL=database_url,
            TENURE_DATA_DIR=str(tmp_path / "worker-data"),
            TENURE_SECRET_KEY="test-secret",
            TENURE_WEBHOOK_RETRY_SCHEDULE=",".join(str(s) for s in SCHEDULE),
            TENURE_WORKER_POLL_SECONDS="0.1",
            TENURE_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on loopback
        )
        self.log_path = tmp_path / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tenure", "worker"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def _burst(runtime: Runtime, ids: list[str]) -> None:
    for start in range(0, BURST, 10):
        time.sleep(0.1)
        with runtime.sessionmaker() as session:
            for index in range(start, start + 10):
                event = record_event(
                    session,
                    type="test_helpers.test_clock.created",
                    obj={"id": f"clock_{index}", "object": "test_helpers.test_clock"},
                    now=runtime.clock.now(),
                )
                assert event is not None
                ids.append(event.id)
            session.commit()


def _unsettled(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        pending = select(func.count()).where(WebhookDelivery.status != "succeeded")
        return session.scalar(pending.select_from(WebhookDelivery)) or 0


@pytest.mark.timeout(300)
def test_kill_9_during_a_burst_loses_no_event_and_records_no_attempt_twice(
    client: TestClient, runtime: Runtime, receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    # One event in seven is refused once, so retries are in flight when the worker dies.
    refused: set[str] = set()

    def answer(_index: int, body: bytes) -> int:
        event_id = json.loads(body)["id"]
        if hashlib.sha256(event_id.encode()).digest()[0] % 7 == 0 and event_id not in refused:
            refused.add(event_id)
            return 500
        return 200

    receiver.answer = answer
    receiver.delay = 0.02  # requests are in flight at any moment, so the kill lands between send and record
    endpoint = client.post(
        "/v1/webhook_endpoints", data={"url": receiver.url, "enabled_events[]": "*"}
    ).json()

    def delivered() -> set[str]:
        return {json.loads(r.body)["id"] for r in receiver.snapshot() if r.status < 300}

    # SQLite has one worker (the embedded one of `tenure serve`); PostgreSQL has several.
    count = 2 if runtime.database_kind == "postgresql" else 1
    workers = [Worker(database_url, tmp_path, f"worker{n}") for n in range(count)]
    event_ids: list[str] = []
    try:
        burst = threading.Thread(target=_burst, args=(runtime, event_ids))
        burst.start()
        wait_for(
            lambda: len(delivered()) >= BURST // 10 and receiver.in_flight > 0,
            timeout=60,
            what="the first deliveries",
        )
        workers[0].kill()
        burst.join(timeout=60)
        assert len(event_ids) == BURST
        assert len(delivered()) < BURST
        workers.append(Worker(database_url, tmp_path, "restarted"))
        # A request the killed worker sent but never recorded is sent again once its lease expires.
        wait_for(lambda: delivered() >= set(event_ids) and not _unsettled(runtime), timeout=150, what="all")
    except AssertionError:
        for worker in workers:
            print(worker.log_path.name, worker.tail())
        raise
    finally:
        for worker in workers:
            worker.stop()

    requests = receiver.snapshot()
    for request in requests:
        stripe.Webhook.construct_event(request.body, request.headers["stripe-signature"], endpoint["secret"])
    with runtime.sessionmaker() as session:
        attempts = session.execute(select(WebhookAttempt.delivery_pk, WebhookAttempt.number)).all()
        assert len(attempts) == len(set(attempts))
        numbers: dict[int, list[int]] = {}
        for delivery_pk, number in attempts:
            numbers.setdefault(delivery_pk, []).append(number)
        deliveries = list(session.scalars(select(WebhookDelivery)))
        assert len(deliveries) == BURST
        for delivery in deliveries:
            assert delivery.status == "succeeded"
            assert sorted(numbers[delivery.pk]) == list(range(1, delivery.attempt_count + 1))
        assert session.scalar(select(func.max(Event.pending_webhooks))) == 0
    # Requests sent but never recorded can only be those the killed worker had in flight.
    sent = Counter((json.loads(r.body)["id"]) for r in requests)
    assert sum(sent.values()) - len(attempts) <= BATCH
    assert set(sent) == set(event_ids)
