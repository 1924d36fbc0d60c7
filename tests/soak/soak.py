"""The crash-consistency soak: cancellations in bursts while the server and the worker are killed.

Tenure runs as `tenure serve --workers 2 --no-worker` plus one `tenure worker`, on a fresh store.
Client threads cancel subscriptions with reasons, through the portal's cancel flow (session URL,
cookie, CSRF token, reason form) and through the API (at period end, immediately, and a few
subscriptions both ways at once). Each round, the worker and the whole server get `kill -9` at
random moments and are started again. Then the worker drains and the store is checked:

- every cancellation that was acknowledged (a 303 at the end of the portal flow, a 200 from the
  API) is stored with its reason and comment;
- `check_store(settled=True)` finds nothing: no half-applied cancellation, no change without its
  event, every event delivered, the insights totals equal to a recount;
- the webhook receiver got every event of the store.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench.stack import SECRET_KEY, Store
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenure.config import Settings
from tenure.consistency import Problem, check_store
from tenure.events.models import Event
from tenure.insights.models import CancellationRecord
from tenure.notifications.models import Kind, OutboxMessage
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.reliability.drive import REASONS, FlowBroken, Shop, api_cancel, portal_cancel, tenure_env
from tests.reliability.processes import Worker, kill_9, server
from tests.webhooks.conftest import Receiver

CLIENT_TIMEOUT = 60.0  # an answer slower than this is a hang, counted as such
# The kinds of cancellation, by share of the subscriptions; "both" cancels one subscription in the
# portal and through the API at the same moment.
MIX = (("portal", 50), ("api_period_end", 25), ("api_now", 15), ("both", 10))


@dataclass
class Config:
    rounds: int = 5
    concurrency: int = 16
    subscriptions: int = 1200
    # Each round: the worker and the server are each killed at a random moment in this window
    # (seconds after the round's start), and started again once both are down.
    kill_window: tuple[float, float] = (2.0, 9.0)
    down_for: tuple[float, float] = (0.3, 1.5)
    drain_timeout: float = 240.0
    seed: int = 11


@dataclass
class Figures:
    database: str
    seed: int = 0
    rounds: int = 0
    concurrency: int = 0
    server_kills: int = 0
    worker_kills: int = 0
    requests: int = 0  # sent to the server (answered, cut off or timed out)
    refused: int = 0  # connection refused while the server was down: never reached it, retried
    cut_off: int = 0  # sent, then the connection died with the server: unacknowledged
    hangs: int = 0
    server_errors: int = 0  # 5xx answers
    acknowledged: int = 0
    acknowledged_portal: int = 0
    acknowledged_api: int = 0
    unacknowledged: int = 0
    unacknowledged_applied: int = 0
    already_canceled: int = 0  # the other half of a "both" found it canceled: a clean refusal
    lost: int = 0
    wrong_reason: int = 0
    subscriptions_canceled: int = 0
    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    webhook_requests: int = 0
    undelivered_events: int = 0
    # Derived after commit by the event log's consumers: each exactly once per cause.
    deliveries_not_one_per_event: int = 0
    cancellation_rows_not_one: int = 0
    cancellation_emails_not_one: int = 0
    problems: list[str] = field(default_factory=list)
    drain_seconds: float = 0.0
    chaos_seconds: float = 0.0
    total_seconds: float = 0.0

    def ok(self) -> bool:
        return (
            not self.problems
            and self.lost == 0
            and self.wrong_reason == 0
            and self.undelivered_events == 0
            and self.deliveries_not_one_per_event == 0
            and self.cancellation_rows_not_one == 0
            and self.cancellation_emails_not_one == 0
            and self.hangs == 0
        )


@dataclass(frozen=True)
class Task:
    subscription: str
    customer: str
    how: str  # portal | api_period_end | api_now
    reason: str
    comment: str
    both: bool = False  # one of the two cancellations of a "both" subscription


class ServerDown(Exception):
    """The request never reached the server (connection refused): safe to send again."""


def _superseded(answer: httpx.Response) -> bool:
    """The portal's last step sent to its done page without canceling: another cancellation of the
    subscription came first, and the flow was closed as superseded (its outcome, not a cancellation)."""
    return answer.status_code == 303 and "/cancel/done" in answer.headers.get("location", "")


class Clients:
    """The client threads: take tasks until told to stop, record every answer."""

    def __init__(self, base_url: str, secret: str, figures: Figures, concurrency: int) -> None:
        self.base_url, self.secret, self.figures = base_url, secret, figures
        self.tasks: queue.Queue[Task] = queue.Queue()
        self.stop = threading.Event()
        self.acknowledged: dict[str, set[tuple[str, str]]] = {}
        self.unacknowledged: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(concurrency)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT * 2)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self.figures, name, getattr(self.figures, name) + amount)

    def _client(self, *, api: bool) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.secret}"} if api else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=CLIENT_TIMEOUT)

        def answered(response: httpx.Response) -> None:
            self._count("requests")
            if response.status_code >= 500:
                self._count("server_errors")

        client.event_hooks = {"response": [answered]}
        return client

    def _run(self) -> None:
        api = self._client(api=True)
        try:
            while not self.stop.is_set():
                try:
                    task = self.tasks.get(timeout=0.2)
                except queue.Empty:
                    continue
                while not self.stop.is_set():
                    try:
                        self._cancel(api, task)
                        break
                    except ServerDown:
                        time.sleep(0.2)  # not sent at all: the same cancellation once it is back
        finally:
            api.close()

    def _cancel(self, api: httpx.Client, task: Task) -> None:
        try:
            if task.how == "portal":
                with self._client(api=False) as browser:
                    answer = portal_cancel(
                        api,
                        browser,
                        customer=task.customer,
                        subscription=task.subscription,
                        reason=task.reason,
                        comment=task.comment,
                    )
                done = answer.status_code == 303 and "canceled" in answer.headers.get("location", "")
            else:
                answer = api_cancel(
                    api,
                    subscription=task.subscription,
                    reason=task.reason,
                    comment=task.comment,
                    immediately=task.how == "api_now",
                )
                done = answer.status_code == 200
        except httpx.ConnectError:
            # This step never reached the server (and the cancelling step is the last one).
            self._count("refused")
            raise ServerDown from None
        except httpx.TimeoutException:
            self._count("requests")
            self._count("hangs")
            self._unacknowledged(task)
            return
        except httpx.TransportError:
            self._count("requests")
            self._count("cut_off")  # the server died with the request: nobody knows if it applied
            self._unacknowledged(task)
            return
        except FlowBroken as broken:
            # The other half of a "both" canceled first: the portal refuses to start the flow.
            if task.both and broken.status_code in (303, 400):
                self._count("already_canceled")
            else:
                self._unexpected(task, broken.status_code, str(broken))
            return
        if done:
            with self._lock:
                self.acknowledged.setdefault(task.subscription, set()).add((task.reason, task.comment))
                self.figures.acknowledged += 1
                if task.how == "portal":
                    self.figures.acknowledged_portal += 1
                else:
                    self.figures.acknowledged_api += 1
        elif task.both and (answer.status_code == 400 or _superseded(answer)):
            # The API half canceled first: refused (API), or the portal's flow closed as superseded.
            self._count("already_canceled")
        else:
            where = answer.headers.get("location")
            self._unexpected(task, answer.status_code, f"to {where}" if where else answer.text[:200])

    def _unexpected(self, task: Task, status: int, text: str) -> None:
        """A 5xx is a clean failure (the server dying, the database unavailable); anything else is a bug."""
        if status < 500:
            with self._lock:
                how = f"{task.how} (both)" if task.both else task.how
                self.errors.append(f"{how} {task.subscription}: {status} {text}")
        self._unacknowledged(task)

    def _unacknowledged(self, task: Task) -> None:
        with self._lock:
            self.unacknowledged.add(task.subscription)


def _refuse_once(refused: set[str], lock: threading.Lock) -> Callable[[int, bytes], int]:
    """One event in ten is refused on its first delivery, so retries are in flight at every kill."""

    def answer(_index: int, body: bytes) -> int:
        event_id = json.loads(body)["id"]
        with lock:
            if hashlib.sha256(event_id.encode()).digest()[0] % 10 == 0 and event_id not in refused:
                refused.add(event_id)
                return 500
        return 200

    return answer


def _tasks(shop: Shop, customers: list[str], subscriptions: list[str], rng: random.Random) -> list[Task]:
    kinds = [kind for kind, share in MIX for _ in range(share)]
    tasks = []
    for index, subscription in enumerate(subscriptions):
        how = kinds[rng.randrange(len(kinds))]
        customer = customers[index % len(customers)]
        reason = REASONS[rng.randrange(len(REASONS))]
        comment = f"soak {index}: {reason} <b>&</b> ünïcode"
        if how == "both":
            # Side by side in the queue, so that two threads take them at the same moment.
            tasks.append(Task(subscription, customer, "portal", reason, comment, both=True))
            other = REASONS[(REASONS.index(reason) + 1) % len(REASONS)]
            tasks.append(Task(subscription, customer, "api_period_end", other, comment + " (api)", both=True))
        else:
            tasks.append(Task(subscription, customer, how, reason, comment))
    return tasks


def _setup(base_url: str, secret: str, count: int, concurrency: int) -> tuple[Shop, list[str], list[str]]:
    """Customers with a card, and `count` subscriptions, made through the API."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=CLIENT_TIMEOUT) as api:
        shop = Shop(api)
        customers = [shop.customer(index) for index in range(max(1, count // 10))]

    def subscribe(indexes: range) -> list[str]:
        with httpx.Client(base_url=base_url, headers=headers, timeout=CLIENT_TIMEOUT) as api:
            mine = Shop(api, price=shop.price)
            return [mine.subscribe(customers[index % len(customers)]) for index in indexes]

    step = -(-count // concurrency)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        parts = pool.map(
            subscribe, [range(start, min(start + step, count)) for start in range(0, count, step)]
        )
    return shop, customers, [subscription for part in parts for subscription in part]


def run_soak(store: Store, config: Config, log: Callable[[str], None], *, log_dir: Path) -> Figures:
    figures = Figures(
        database=store.kind, seed=config.seed, rounds=config.rounds, concurrency=config.concurrency
    )
    rng = random.Random(config.seed)
    started = time.monotonic()
    secret = store.create_key()
    env = tenure_env(
        store.url,
        store.data_dir,
        secret=SECRET_KEY,
        # Quick retries; their long tail keeps the endpoint from being disabled as "failing for the
        # whole schedule" when its last answer before a worker outage was a refusal.
        TENURE_WEBHOOK_RETRY_SCHEDULE="1,1,2,3,5,3600",
        TENURE_WORKER_POLL_SECONDS="0.2",
        TENURE_RATE_LIMIT_API="0",  # sixteen clients on one key: the limit is not under test here
    )
    web = server(env, log_dir, workers=2)
    worker = Worker(env, log_dir / "worker.log")
    receiver = Receiver()
    refused: set[str] = set()
    receiver.answer = _refuse_once(refused, threading.Lock())
    receiver.delay = 0.05  # deliveries are in flight when the worker dies: they must be sent again
    clients: Clients | None = None
    try:
        web.start(timeout=120)
        worker.start()
        log(f"{store.kind}: creating {config.subscriptions} subscriptions")
        shop, customers, subscriptions = _setup(
            web.base_url, secret, config.subscriptions, config.concurrency
        )
        # Listening from here on: the events under test are those of the cancellations.
        first_event = _last_event_pk(store)
        with httpx.Client(base_url=web.base_url, headers={"Authorization": f"Bearer {secret}"}) as api:
            api.post(
                "/v1/webhook_endpoints", data={"url": receiver.url, "enabled_events[]": "*"}
            ).raise_for_status()
        clients = Clients(web.base_url, secret, figures, config.concurrency)
        for task in _tasks(shop, customers, subscriptions, rng):
            clients.tasks.put(task)
        clients.start()
        chaos_started = time.monotonic()
        for number in range(1, config.rounds + 1):
            moments = sorted(
                [(rng.uniform(*config.kill_window), "worker"), (rng.uniform(*config.kill_window), "server")]
            )
            round_started = time.monotonic()
            for at, what in moments:
                time.sleep(max(0.0, round_started + at - time.monotonic()))
                if what == "server":
                    kill_9(web)
                    figures.server_kills += 1
                else:
                    # Preferably while it has deliveries in flight (sent, not yet recorded).
                    deadline = time.monotonic() + 3
                    while receiver.in_flight == 0 and time.monotonic() < deadline:
                        time.sleep(0.005)
                    worker.kill_9()
                    figures.worker_kills += 1
            time.sleep(rng.uniform(*config.down_for))
            web.start(timeout=120)
            worker.start()
            left = clients.tasks.qsize()
            kills = " and ".join(f"{what} at {at:.1f}s" for at, what in moments)
            done = figures.acknowledged
            log(f"{store.kind}: round {number}: killed {kills}; {done} acknowledged, {left} left")
            if left == 0:
                raise AssertionError("the soak ran out of subscriptions: raise Config.subscriptions")
        figures.chaos_seconds = time.monotonic() - chaos_started
        clients.join()
        drain_started = time.monotonic()
        _verify(store, figures, clients, receiver, config, log, after_event=first_event)
        figures.drain_seconds = time.monotonic() - drain_started
    except BaseException:
        log(f"server log: {web.log_tail(3000)}\nworker log: {worker.log_tail(3000)}")
        raise
    finally:
        if clients is not None:
            clients.join()
        worker.stop()
        web.stop()
        receiver.close()
    figures.total_seconds = time.monotonic() - started
    return figures


def _runtime(store: Store) -> Runtime:
    return Runtime.build(Settings(data_dir=store.data_dir, database_url=store.url, secret_key=SECRET_KEY))


def _last_event_pk(store: Store) -> int:
    runtime = _runtime(store)
    try:
        with runtime.sessionmaker() as session:
            return session.scalar(select(func.max(Event.pk))) or 0
    finally:
        runtime.close()


def _verify(
    store: Store,
    figures: Figures,
    clients: Clients,
    receiver: Receiver,
    config: Config,
    log: Callable[[str], None],
    *,
    after_event: int,
) -> None:
    runtime = _runtime(store)
    try:
        deadline = time.monotonic() + config.drain_timeout
        problems: list[Problem] = []
        delivered: set[str] = set()
        events: set[str] = set()
        while time.monotonic() < deadline:
            with runtime.sessionmaker() as session:
                problems = check_store(session, settled=True, now=runtime.clock.now())
                events = set(session.scalars(select(Event.id).where(Event.pk > after_event)))
            delivered = {json.loads(r.body)["id"] for r in receiver.snapshot() if r.status < 300}
            if not problems and events <= delivered:
                break
            time.sleep(1.0)
        log(f"{store.kind}: drained; {len(problems)} problems, {len(events - delivered)} events not received")
        figures.problems = [str(problem) for problem in problems[:50]]
        figures.undelivered_events = len(events - delivered)
        figures.events = len(events)
        figures.webhook_requests = len(receiver.snapshot())
        with runtime.sessionmaker() as session:
            figures.deliveries = session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
            figures.attempts = session.scalar(select(func.count()).select_from(WebhookAttempt)) or 0
            stored = {
                row.id: row
                for row in session.execute(
                    select(Subscription.id, Subscription.canceled_at, Subscription.cancellation_details)
                )
            }
            _count_derived(session, figures, stored, after_event=after_event, log=log)
        figures.subscriptions_canceled = sum(1 for row in stored.values() if row.canceled_at is not None)
        for subscription, given in clients.acknowledged.items():
            row = stored[subscription]
            details = row.cancellation_details or {}
            if row.canceled_at is None:
                figures.lost += 1
                log(f"LOST: {subscription} acknowledged {given} but not canceled")
            elif (details.get("feedback"), details.get("comment")) not in given:
                figures.wrong_reason += 1
                log(f"WRONG REASON: {subscription} stored {details} but acknowledged {given}")
        unknown = clients.unacknowledged - clients.acknowledged.keys()
        figures.unacknowledged = len(unknown)
        figures.unacknowledged_applied = sum(1 for s in unknown if stored[s].canceled_at is not None)
        if clients.errors:
            figures.problems += [f"unexpected answer: {error}" for error in clients.errors[:20]]
        counts = Counter(problem.check for problem in problems)
        if counts:
            log(f"{store.kind}: problems by check: {dict(counts)}")
    finally:
        runtime.close()


def _count_derived(
    session: Session,
    figures: Figures,
    stored: dict[str, Any],
    *,
    after_event: int,
    log: Callable[[str], None],
) -> None:
    """Webhook delivery, insights row and email: exactly one per event, cancellation, decision —
    however often the worker died between an event's commit and its consumption."""
    per_event = Counter(
        session.scalars(
            select(WebhookDelivery.event_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(Event.pk > after_event, WebhookDelivery.manual.is_(False))
        )
    )
    events = session.scalars(select(Event.id).where(Event.pk > after_event)).all()
    figures.deliveries_not_one_per_event = sum(1 for event_id in events if per_event[event_id] != 1)
    rows = Counter(session.scalars(select(CancellationRecord.subscription_id)))
    emails = Counter(
        session.scalars(select(OutboxMessage.cause_key).where(OutboxMessage.kind == Kind.CANCELLATION))
    )
    for subscription_id, row in stored.items():
        if row.canceled_at is None:
            continue
        if rows[subscription_id] != 1:
            figures.cancellation_rows_not_one += 1
            log(f"CANCELLATIONS ROW x{rows[subscription_id]}: {subscription_id}")
        cause = f"cancellation:{subscription_id}:{row.canceled_at}"
        if emails[cause] != 1:
            figures.cancellation_emails_not_one += 1
            log(f"CANCELLATION EMAIL x{emails[cause]}: {subscription_id}")


def summary_row(figures: Figures) -> dict[str, Any]:
    return {key: value for key, value in asdict(figures).items() if key != "problems"}
