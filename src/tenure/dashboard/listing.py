"""The Subscriptions page's filters (one schema), its query, and what each row shows.

Every filter becomes a bound parameter of a SQLAlchemy expression: no SQL is built from text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.dashboard.cancellations import CancellationView, explain
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.retention.models import CancellationFlow, FlowOutcome
from tenure.retention.reasons import STANDARD_REASONS
from tenure.subscriptions.models import CancellationReason, Subscription, SubscriptionItem, SubscriptionStatus

PAGE_SIZE = 25
ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)
NO_REASON = "none"


class Tab(StrEnum):
    ALL = "all"
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    SCHEDULED = "scheduled"
    CANCELED = "canceled"


TAB_LABELS: dict[Tab, str] = {
    Tab.ALL: "All",
    Tab.ACTIVE: "Active",
    Tab.TRIALING: "Trialing",
    Tab.PAST_DUE: "Past due",
    Tab.SCHEDULED: "Scheduled to cancel",
    Tab.CANCELED: "Canceled",
}


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _start_of(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class SubscriptionFilters:
    tab: Tab = Tab.ALL
    price: str | None = None
    since: date | None = None  # inclusive, UTC days
    until: date | None = None  # inclusive
    reason: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> SubscriptionFilters:
        """Lenient: a value that makes no sense is ignored rather than refused."""
        tab = query.get("tab", "")
        page = query.get("page", "1")
        return cls(
            tab=Tab(tab) if tab in Tab.__members__.values() else Tab.ALL,
            price=(query.get("price") or "").strip()[:64] or None,
            since=_day(query.get("from", "")),
            until=_day(query.get("to", "")),
            reason=(query.get("reason") or "").strip()[:40] or None,
            page=min(max(int(page), 1), 100_000) if page.isdigit() else 1,
        )

    @property
    def dated_by_cancellation(self) -> bool:
        return self.tab in (Tab.CANCELED, Tab.SCHEDULED)

    def link(self, **changes: Any) -> str:
        """This view's URL with some filters changed (the page goes back to 1 unless given)."""
        target = replace(self, **{"page": 1, **changes})
        params = {
            "tab": target.tab.value if target.tab != Tab.ALL else None,
            "price": target.price,
            "from": target.since.isoformat() if target.since else None,
            "to": target.until.isoformat() if target.until else None,
            "reason": target.reason,
            "page": str(target.page) if target.page > 1 else None,
        }
        query = urlencode({k: v for k, v in params.items() if v})
        return "/dashboard/subscriptions" + (f"?{query}" if query else "")


def _reason_condition(reason: str, custom_codes: set[str]) -> Any:
    details = Subscription.cancellation_details
    if reason in STANDARD_REASONS:
        return details["feedback"].as_string() == reason
    if reason == CancellationReason.PAYMENT_FAILED:
        return details["reason"].as_string() == CancellationReason.PAYMENT_FAILED.value
    if reason == NO_REASON:
        return and_(Subscription.canceled_at.is_not(None), details["feedback"].as_string().is_(None))
    if reason in custom_codes:
        return Subscription.id.in_(
            select(CancellationFlow.subscription_id).where(
                CancellationFlow.reason_code == reason, CancellationFlow.outcome == FlowOutcome.CANCELED
            )
        )
    return None


def subscription_query(filters: SubscriptionFilters, *, custom_codes: set[str]) -> Select[Any]:
    stmt = select(Subscription)
    tab = filters.tab
    if tab in (Tab.ACTIVE, Tab.TRIALING, Tab.PAST_DUE, Tab.CANCELED):
        stmt = stmt.where(Subscription.status == tab.value)
    elif tab == Tab.SCHEDULED:
        stmt = stmt.where(
            Subscription.status.not_in(ENDED),
            or_(Subscription.cancel_at_period_end.is_(True), Subscription.cancel_at.is_not(None)),
        )
    if filters.price:
        stmt = stmt.where(
            Subscription.id.in_(
                select(SubscriptionItem.subscription_id).where(SubscriptionItem.price_id == filters.price)
            )
        )
    column = Subscription.canceled_at if filters.dated_by_cancellation else Subscription.created
    if filters.since:
        stmt = stmt.where(column >= _start_of(filters.since))
    if filters.until:
        stmt = stmt.where(column < _start_of(filters.until + timedelta(days=1)))
    if filters.reason:
        condition = _reason_condition(filters.reason, custom_codes)
        if condition is not None:
            stmt = stmt.where(condition)
    if tab == Tab.CANCELED:
        return stmt.order_by(Subscription.canceled_at.desc(), Subscription.pk.desc())
    return stmt.order_by(Subscription.pk.desc())


@dataclass(frozen=True)
class PlanLine:
    plan: str
    amount: int
    currency: str
    interval: str
    interval_count: int


@dataclass(frozen=True)
class SubscriptionRow:
    subscription: Subscription
    customer: Customer | None
    plan: PlanLine | None
    cancellation: CancellationView | None

    @property
    def scheduled(self) -> bool:
        return self.subscription.status not in ENDED and (
            self.subscription.cancel_at_period_end or self.subscription.cancel_at is not None
        )

    @property
    def ends_at(self) -> int | None:
        if self.subscription.status in ENDED:
            return self.subscription.ended_at
        if self.subscription.cancel_at_period_end:
            return self.subscription.current_period_end
        return self.subscription.cancel_at


def plan_lines(session: Session, subscriptions: list[Subscription]) -> dict[str, PlanLine]:
    """The plan each subscription is on (its first item; "+n" when there are more), in one query."""
    ids = [s.id for s in subscriptions]
    if not ids:
        return {}
    rows = session.execute(
        select(SubscriptionItem, Price, Product)
        .join(Price, Price.id == SubscriptionItem.price_id)
        .join(Product, Product.id == Price.product_id)
        .where(SubscriptionItem.subscription_id.in_(ids))
        .order_by(SubscriptionItem.pk)
    ).all()
    grouped: dict[str, list[tuple[SubscriptionItem, Price, Product]]] = {}
    for item, price, product in rows:
        grouped.setdefault(item.subscription_id, []).append((item, price, product))
    lines: dict[str, PlanLine] = {}
    for subscription_id, entries in grouped.items():
        item, price, product = entries[0]
        name = product.name + (f" · {price.nickname}" if price.nickname else "")
        if len(entries) > 1:
            name += f" (+{len(entries) - 1})"
        lines[subscription_id] = PlanLine(
            plan=name,
            amount=sum(p.unit_amount * i.quantity for i, p, _ in entries),
            currency=price.currency,
            interval=price.recurring_interval or "month",
            interval_count=price.recurring_interval_count or 1,
        )
    return lines


@dataclass(frozen=True)
class SubscriptionPage:
    rows: list[SubscriptionRow]
    total: int
    has_next: bool


def subscription_page(
    session: Session, filters: SubscriptionFilters, *, custom_codes: set[str]
) -> SubscriptionPage:
    stmt = subscription_query(filters, custom_codes=custom_codes)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    found = list(session.scalars(stmt.offset((filters.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    has_next = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    customer_ids = {s.customer_id for s in found}
    customers = (
        {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))}
        if customer_ids
        else {}
    )
    plans = plan_lines(session, found)
    views = explain(session, found)
    rows = [
        SubscriptionRow(
            subscription=s,
            customer=customers.get(s.customer_id),
            plan=plans.get(s.id),
            cancellation=views.get(s.id),
        )
        for s in found
    ]
    return SubscriptionPage(rows=rows, total=int(total), has_next=has_next)
