"""Consistency checks: what a crash, a database fault or a restore must never leave in a store.

Every cancellation is one transaction that writes the subscription, its reason and the event that
records both; the event's webhook deliveries, the insights row and the email follow after commit,
each in one transaction with its consumer's checkpoint. These checks read a store and report any
trace of a transaction that was only half applied:

- a subscription whose cancellation fields disagree with each other (scheduled or ended without
  `canceled_at`, canceled without `cancellation_details.reason`), or whose state is not the one
  its latest `customer.subscription.*` event recorded (a change without its event);
- a portal cancel flow that stored the customer's reason without the cancellation it belongs to,
  one completed as canceled for a subscription never canceled, or more than one completed as
  canceled for one cancellation (exactly one flow owns a cancellation; the others are superseded);
- an event whose `pending_webhooks` does not count its unsent deliveries, a delivery whose
  attempts are not numbered 1..n;
- a consumer of the event log failing on an event (it retries, then skips it and logs an error).

With `settled=True` (a store whose worker has drained), derived state must have caught up too:
every consumer has read every event; `cancellations` (what the insights aggregate) is in step with
the subscriptions and the insights report's totals equal a recount over the subscriptions
themselves; no webhook is undelivered and no job undone or failed. `tenure check` runs them from
the command line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tenure.events.models import ConsumerCheckpoint, Event
from tenure.insights.categories import category_of
from tenure.insights.currency import Converter
from tenure.insights.metrics import cancellations_report
from tenure.insights.models import CancellationRecord
from tenure.jobs.models import Job
from tenure.retention.models import CancellationFlow, FlowOutcome
from tenure.subscriptions.models import CancellationReason, Subscription, SubscriptionStatus
from tenure.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery

CHUNK = 500
DAY = 86_400
# What a cancellation changes on a subscription: each must be what the latest event recorded.
RECORDED_FIELDS = (
    "status",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "cancellation_details",
)
INVOLUNTARY = (CancellationReason.PAYMENT_FAILED, CancellationReason.PAYMENT_DISPUTED)


@dataclass(frozen=True)
class Problem:
    """One broken invariant: which check, on which object, and what is wrong."""

    check: str
    object_id: str | None
    detail: str

    def __str__(self) -> str:
        where = f" {self.object_id}" if self.object_id else ""
        return f"[{self.check}]{where}: {self.detail}"


def check_store(session: Session, *, settled: bool = False, now: int | None = None) -> list[Problem]:
    """Every problem found in the store (none: consistent). `settled` also requires every webhook
    delivered and every job due by `now` done, as after the worker has drained.

    The checks compare tables that a running worker changes together (deliveries and their events'
    `pending_webhooks`, say), so they read one snapshot of the store: given a session with no
    transaction open, PostgreSQL reads at REPEATABLE READ (an SQLite transaction is one snapshot
    already), and the snapshot ends with the check."""
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return _check(session, settled=settled, now=now)
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        return _check(session, settled=settled, now=now)
    finally:
        session.rollback()


def _check(session: Session, *, settled: bool, now: int | None) -> list[Problem]:
    problems: list[Problem] = []
    problems += _subscriptions(session)
    problems += _flows(session)
    problems += _outbox(session)
    problems += _consumers(session, settled=settled)
    if settled:
        problems += _insights(session)
        problems += _undelivered(session, now=now)
    return problems


def _consumers(session: Session, *, settled: bool) -> list[Problem]:
    from tenure.consumers import lag  # the consumers' modules import much of Tenure

    problems = [
        Problem("consumers", name, f"failing on an event: {(error or '')[:300]}")
        for name, error in session.execute(
            select(ConsumerCheckpoint.name, ConsumerCheckpoint.last_error).where(
                ConsumerCheckpoint.last_error.is_not(None)
            )
        )
    ]
    if settled:
        problems += [
            Problem("consumers", name, f"{behind} events not read yet")
            for name, behind in lag(session).items()
            if behind
        ]
    return problems


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _latest_events(session: Session, subscription_ids: Sequence[str]) -> dict[str, Event]:
    latest = (
        select(func.max(Event.pk))
        .where(Event.object_id.in_(subscription_ids), Event.type.like("customer.subscription.%"))
        .group_by(Event.object_id)
    )
    return {
        event.object_id or "": event for event in session.scalars(select(Event).where(Event.pk.in_(latest)))
    }


def _subscriptions(session: Session) -> list[Problem]:
    problems: list[Problem] = []
    ids = list(session.scalars(select(Subscription.id).order_by(Subscription.pk)))
    for chunk in _chunks(ids):
        rows = session.execute(
            select(
                Subscription.id,
                *(getattr(Subscription, name) for name in RECORDED_FIELDS),
            ).where(Subscription.id.in_(chunk))
        ).all()
        events = _latest_events(session, chunk)
        for row in rows:
            state = dict(zip(RECORDED_FIELDS, row[1:], strict=True))
            problems += _cancellation_fields(row.id, state)
            event = events.get(row.id)
            if event is None:
                problems.append(Problem("event", row.id, "no customer.subscription.* event records it"))
                continue
            recorded = event.data.get("object") or {}
            differing = [name for name in RECORDED_FIELDS if recorded.get(name) != state[name]]
            if differing:
                problems.append(
                    Problem(
                        "event",
                        row.id,
                        f"{', '.join(differing)} changed without an event (latest is {event.id})",
                    )
                )
    return problems


def _cancellation_fields(subscription_id: str, state: dict[str, Any]) -> list[Problem]:
    problems = []
    scheduled = bool(state["cancel_at_period_end"]) or state["cancel_at"] is not None
    canceled = state["status"] == SubscriptionStatus.CANCELED
    details = state["cancellation_details"] or {}
    if (scheduled or canceled) and state["canceled_at"] is None:
        problems.append(Problem("cancellation", subscription_id, "canceled or scheduled without canceled_at"))
    if state["canceled_at"] is not None and not (scheduled or canceled):
        problems.append(Problem("cancellation", subscription_id, "canceled_at set but nothing is canceled"))
    if canceled and state["ended_at"] is None:
        problems.append(Problem("cancellation", subscription_id, "canceled without ended_at"))
    if state["canceled_at"] is not None and not details.get("reason"):
        problems.append(
            Problem("cancellation", subscription_id, "canceled without cancellation_details.reason")
        )
    return problems


def _flows(session: Session) -> list[Problem]:
    """A portal flow stores the reason in the transaction that cancels (or shows the one offer)."""
    problems = []
    for flow_id in session.scalars(
        select(CancellationFlow.id).where(
            CancellationFlow.reason_at.is_not(None),
            CancellationFlow.completed_at.is_(None),
            CancellationFlow.offer.is_(None),
        )
    ):
        problems.append(Problem("flow", flow_id, "reason stored without the cancellation or an offer"))
    completed = session.execute(
        select(CancellationFlow.id, CancellationFlow.subscription_id, CancellationFlow.completed_at)
        .where(CancellationFlow.outcome == FlowOutcome.CANCELED)
        .order_by(CancellationFlow.pk)
    ).all()
    by_subscription: dict[str, list[tuple[str, int]]] = {}
    for flow_id, subscription_id, completed_at in completed:
        by_subscription.setdefault(subscription_id, []).append((flow_id, completed_at or 0))
    subscription_ids = sorted(by_subscription)
    for chunk in _chunks(subscription_ids):
        cancellations = _cancellation_moments(session, chunk)
        for subscription_id in chunk:
            moments = cancellations.get(subscription_id, [])
            canceled_flows = by_subscription[subscription_id]
            if not moments:
                # The flow may have been undone since ("keep my subscription"), but some event
                # must have recorded the cancellation it completed with.
                problems += [
                    Problem("flow", flow_id, f"completed as canceled but {subscription_id} never was")
                    for flow_id, _ in canceled_flows
                ]
                continue
            problems += _flows_per_cancellation(subscription_id, canceled_flows, moments)
    return problems


def _cancellation_moments(session: Session, subscription_ids: Sequence[str]) -> dict[str, list[int]]:
    """Each subscription's cancellations, as their `canceled_at`, in the order its events recorded
    them: a cancellation is an event whose `canceled_at` is set and differs from the previous one's
    (so one undone with "keep my subscription" and made again counts twice, even within a second)."""
    moments: dict[str, list[int]] = {}
    previous: dict[str, int | None] = {}
    for object_id, data in session.execute(
        select(Event.object_id, Event.data)
        .where(Event.object_id.in_(subscription_ids), Event.type.like("customer.subscription.%"))
        .order_by(Event.pk)
    ):
        canceled_at = (data.get("object") or {}).get("canceled_at")
        if canceled_at is not None and canceled_at != previous.get(object_id):
            moments.setdefault(object_id, []).append(int(canceled_at))
        previous[object_id] = canceled_at
    return moments


def _flows_per_cancellation(
    subscription_id: str, canceled_flows: list[tuple[str, int]], moments: list[int]
) -> list[Problem]:
    """At most one canceled flow per cancellation. A flow belongs to the latest cancellation decided
    at or before it completed (the one it made is stamped with its completion time)."""
    owners: dict[int, list[str]] = {}
    for flow_id, completed_at in canceled_flows:
        owned = max((moment for moment in moments if moment <= completed_at), default=None)
        if owned is not None:
            owners.setdefault(owned, []).append(flow_id)
    capacity = Counter(moments)
    return [
        Problem(
            "flow",
            subscription_id,
            f"{len(flow_ids)} flows completed as canceled for {capacity[moment]} cancellation(s) "
            f"at {moment}: {', '.join(flow_ids)}",
        )
        for moment, flow_ids in sorted(owners.items())
        if len(flow_ids) > capacity[moment]
    ]


def _insights(session: Session) -> list[Problem]:
    problems = []
    canceled = {
        row.id: row
        for row in session.execute(
            select(
                Subscription.id,
                Subscription.canceled_at,
                Subscription.ended_at,
                Subscription.cancellation_details,
            ).where(Subscription.canceled_at.is_not(None))
        )
    }
    records = {
        row.subscription_id: row
        for row in session.execute(
            select(
                CancellationRecord.subscription_id,
                CancellationRecord.canceled_at,
                CancellationRecord.ended_at,
                CancellationRecord.reason,
                CancellationRecord.feedback,
                CancellationRecord.comment,
            )
        )
    }
    for subscription_id in sorted(canceled.keys() - records.keys()):
        problems.append(Problem("insights", subscription_id, "canceled but missing from cancellations"))
    for subscription_id in sorted(records.keys() - canceled.keys()):
        problems.append(Problem("insights", subscription_id, "in cancellations but not canceled"))
    for subscription_id in sorted(canceled.keys() & records.keys()):
        subscription, record = canceled[subscription_id], records[subscription_id]
        details = subscription.cancellation_details or {}
        expected = {
            "canceled_at": subscription.canceled_at,
            "ended_at": subscription.ended_at,
            "reason": details.get("reason"),
            "feedback": details.get("feedback"),
            "comment": details.get("comment"),
        }
        differing = [name for name, value in expected.items() if getattr(record, name) != value]
        if differing:
            problems.append(
                Problem("insights", subscription_id, f"cancellations row differs on {', '.join(differing)}")
            )
    return problems + _report_totals(session, list(canceled.values()))


def _report_totals(session: Session, canceled: list[Any]) -> list[Problem]:
    """The insights report over all time against a recount from the subscriptions table."""
    moments = [row.canceled_at for row in canceled]
    # Whole UTC days, so that a report built from daily aggregates is read from them alone.
    start, end = (min(moments) // DAY * DAY, max(moments) // DAY * DAY + DAY) if moments else (0, DAY)
    report = cancellations_report(
        session, start=start, end=end, interval="month", price=None, now=end, convert=Converter("eur", {})
    )
    by_feedback = Counter(category_of(row.cancellation_details) for row in canceled)
    involuntary = sum(1 for row in canceled if (row.cancellation_details or {}).get("reason") in INVOLUNTARY)
    expected = {
        "total": len(canceled),
        "involuntary": involuntary,
        "voluntary": len(canceled) - involuntary,
        **{f"by_feedback[{key}]": count for key, count in by_feedback.items()},
    }
    reported = {
        "total": report["total"],
        "involuntary": report["involuntary"],
        "voluntary": report["voluntary"],
        **{f"by_feedback[{entry['feedback']}]": entry["count"] for entry in report["by_feedback"]},
    }
    return [
        Problem(
            "insights",
            None,
            f"report {name} is {reported.get(name, 0)}, a recount gives {expected.get(name, 0)}",
        )
        for name in sorted(expected.keys() | reported.keys())
        if reported.get(name, 0) != expected.get(name, 0)
    ]


def _outbox(session: Session) -> list[Problem]:
    problems = []
    unsent = dict(
        session.execute(
            select(WebhookDelivery.event_id, func.count())
            .where(WebhookDelivery.manual.is_(False), WebhookDelivery.status != DeliveryStatus.SUCCEEDED)
            .group_by(WebhookDelivery.event_id)
        ).all()
    )
    pending = dict(
        session.execute(select(Event.id, Event.pending_webhooks).where(Event.pending_webhooks != 0)).all()
    )
    for event_id in sorted(unsent.keys() | pending.keys()):
        if unsent.get(event_id, 0) != pending.get(event_id, 0):
            problems.append(
                Problem(
                    "webhooks",
                    event_id,
                    f"pending_webhooks is {pending.get(event_id, 0)} "
                    f"but {unsent.get(event_id, 0)} deliveries are unsent",
                )
            )
    attempts = (
        select(
            WebhookAttempt.delivery_pk,
            func.count().label("count"),
            func.count(func.distinct(WebhookAttempt.number)).label("numbers"),
            func.max(WebhookAttempt.number).label("last"),
        )
        .group_by(WebhookAttempt.delivery_pk)
        .subquery()
    )
    for delivery_id, attempt_count, count, numbers, last in session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempt_count,
            func.coalesce(attempts.c.count, 0),
            func.coalesce(attempts.c.numbers, 0),
            func.coalesce(attempts.c.last, 0),
        ).outerjoin(attempts, attempts.c.delivery_pk == WebhookDelivery.pk)
    ):
        if not count == numbers == last == attempt_count:
            problems.append(
                Problem(
                    "webhooks",
                    delivery_id,
                    f"attempt_count is {attempt_count} but {count} attempts are recorded (last #{last})",
                )
            )
    return problems


def _undelivered(session: Session, *, now: int | None) -> list[Problem]:
    problems = [
        Problem("undelivered", event_id, f"delivery {delivery_id} to {endpoint_id} is {status}")
        for delivery_id, event_id, endpoint_id, status in session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.event_id,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.status,
            )
            .where(WebhookDelivery.manual.is_(False), WebhookDelivery.status != DeliveryStatus.SUCCEEDED)
            .order_by(WebhookDelivery.pk)
        )
    ]
    jobs = select(Job.pk, Job.kind, Job.failed_at, Job.attempts).where(Job.done_at.is_(None))
    if now is not None:
        jobs = jobs.where(or_(Job.run_at <= now, Job.failed_at.is_not(None)))
    for pk, kind, failed_at, attempts in session.execute(jobs.order_by(Job.pk)):
        state = f"failed after {attempts} attempts" if failed_at is not None else "not done"
        problems.append(Problem("jobs", f"job {pk}", f"{kind} {state}"))
    return problems
