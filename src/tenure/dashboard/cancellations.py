"""How the dashboard explains a cancellation: its reason label and where it came from.

The source is derived, not stored on the subscription:

- `dunning`: `cancellation_details.reason` is `payment_failed` (`dispute` for `payment_disputed`);
- `portal`: a cancel flow ended in `canceled` at the very moment the subscription records
  (`canceled_at`) — the flow and the subscription share the customer's clock;
- `operator`: a dashboard action (`staff_actions`, action `subscription.cancel`) at that moment;
- `api`: anything else (an API call: `DELETE /v1/subscriptions/…` or `cancel_at_period_end`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.dashboard.models import StaffAction
from tenure.portal.models import PortalConfiguration
from tenure.retention.models import CancellationFlow, FlowOutcome
from tenure.retention.reasons import LABELS
from tenure.subscriptions.models import CancellationReason, Subscription

OPERATOR_CANCEL = "subscription.cancel"
COMMENT_PREVIEW = 80


class CancellationSource(StrEnum):
    PORTAL = "portal"
    API = "api"
    DUNNING = "dunning"
    DISPUTE = "dispute"
    OPERATOR = "operator"


SOURCE_LABELS: dict[str, str] = {
    CancellationSource.PORTAL: "Customer portal",
    CancellationSource.API: "API",
    CancellationSource.DUNNING: "Dunning (failed payments)",
    CancellationSource.DISPUTE: "Payment dispute",
    CancellationSource.OPERATOR: "Operator (dashboard)",
}


def is_cancellation(subscription: Subscription) -> bool:
    """Canceled, or scheduled to cancel."""
    return subscription.canceled_at is not None or bool(subscription.cancellation_details.get("reason"))


def cancellation_source(
    details: dict[str, Any],
    *,
    canceled_at: int | None,
    flow_completions: Iterable[int],
    operator_moments: Iterable[int],
) -> CancellationSource:
    """Where a cancellation came from (see the module's docstring)."""
    reason = details.get("reason")
    if reason == CancellationReason.PAYMENT_FAILED:
        return CancellationSource.DUNNING
    if reason == CancellationReason.PAYMENT_DISPUTED:
        return CancellationSource.DISPUTE
    if canceled_at is not None and canceled_at in set(operator_moments):
        return CancellationSource.OPERATOR
    if canceled_at is not None and canceled_at in set(flow_completions):
        return CancellationSource.PORTAL
    return CancellationSource.API


def reason_label(details: dict[str, Any], *, custom_code: str | None, custom_labels: dict[str, str]) -> str:
    """The operator's words for the reason: a custom reason's label, else the standard label."""
    if custom_code and custom_code in custom_labels:
        return custom_labels[custom_code]
    feedback = details.get("feedback")
    if feedback in LABELS:
        return LABELS[str(feedback)]["en"]
    reason = details.get("reason")
    if reason == CancellationReason.PAYMENT_FAILED:
        return "Payment failed"
    if reason == CancellationReason.PAYMENT_DISPUTED:
        return "Payment disputed"
    return "No reason given"


def comment_preview(comment: str | None, length: int = COMMENT_PREVIEW) -> str:
    text = " ".join((comment or "").split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


@dataclass(frozen=True)
class CancellationView:
    reason_label: str
    feedback: str | None
    comment: str | None
    reason: str | None
    canceled_at: int | None
    source: CancellationSource
    flow: CancellationFlow | None  # the portal flow that canceled, if any
    operator: StaffAction | None  # the dashboard action that canceled, if any

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS[self.source]

    @property
    def comment_start(self) -> str:
        return comment_preview(self.comment)


def custom_reason_labels(session: Session) -> dict[str, str]:
    """English labels of every configuration's custom reasons (codes are stable across configurations)."""
    labels: dict[str, str] = {}
    for tenure in session.scalars(select(PortalConfiguration.tenure)):
        for custom in (tenure or {}).get("custom_reasons") or []:
            labels.setdefault(
                str(custom["code"]), str((custom.get("labels") or {}).get("en") or custom["code"])
            )
    return labels


def explain(session: Session, subscriptions: list[Subscription]) -> dict[str, CancellationView]:
    """A `CancellationView` for each canceled (or scheduled) subscription, in three queries."""
    relevant = [s for s in subscriptions if is_cancellation(s)]
    if not relevant:
        return {}
    ids = [s.id for s in relevant]
    flows: dict[str, list[CancellationFlow]] = {}
    for record in session.scalars(
        select(CancellationFlow)
        .where(CancellationFlow.subscription_id.in_(ids), CancellationFlow.outcome == FlowOutcome.CANCELED)
        .order_by(CancellationFlow.pk)
    ):
        flows.setdefault(record.subscription_id, []).append(record)
    actions: dict[str, list[StaffAction]] = {}
    for action in session.scalars(
        select(StaffAction)
        .where(StaffAction.object_id.in_(ids), StaffAction.action == OPERATOR_CANCEL)
        .order_by(StaffAction.pk)
    ):
        assert action.object_id is not None
        actions.setdefault(action.object_id, []).append(action)
    labels = custom_reason_labels(session)
    views: dict[str, CancellationView] = {}
    for subscription in relevant:
        details = dict(subscription.cancellation_details or {})
        own_flows = flows.get(subscription.id, [])
        own_actions = actions.get(subscription.id, [])
        source = cancellation_source(
            details,
            canceled_at=subscription.canceled_at,
            flow_completions=[f.completed_at for f in own_flows if f.completed_at is not None],
            operator_moments=[a.at for a in own_actions],
        )
        flow = next((f for f in reversed(own_flows) if f.completed_at == subscription.canceled_at), None)
        operator = next((a for a in reversed(own_actions) if a.at == subscription.canceled_at), None)
        views[subscription.id] = CancellationView(
            reason_label=reason_label(
                details,
                custom_code=flow.reason_code if flow and source == CancellationSource.PORTAL else None,
                custom_labels=labels,
            ),
            feedback=details.get("feedback"),
            comment=details.get("comment"),
            reason=details.get("reason"),
            canceled_at=subscription.canceled_at,
            source=source,
            flow=flow if source == CancellationSource.PORTAL else None,
            operator=operator if source == CancellationSource.OPERATOR else None,
        )
    return views
