"""What the subscription and customer detail pages show, gathered in a few queries (read only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tenure.coupons.models import Coupon, coupon_is_valid
from tenure.customers.models import Customer
from tenure.dashboard.cancellations import CancellationView, custom_reason_labels, explain, reason_label
from tenure.dashboard.listing import PlanLine, plan_lines
from tenure.dashboard.models import StaffAction
from tenure.events.models import Event
from tenure.events.schemas import serialize_event
from tenure.invoices.models import Invoice
from tenure.payments.models import PaymentMethod
from tenure.portal.pages.offers import OfferView, describe
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.retention.models import CancellationFlow
from tenure.subscriptions.models import Discount, Subscription, SubscriptionItem

SUBSCRIPTION_EVENT_TYPES = ("customer.subscription.updated", "customer.subscription.deleted")
CANCELLATION_FIELDS = ("canceled_at", "cancel_at_period_end", "cancel_at", "cancellation_details", "status")
EVENT_SCAN_LIMIT = 500


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class ItemLine:
    item: SubscriptionItem
    price: Price | None
    product: Product | None


@dataclass(frozen=True)
class DiscountLine:
    discount: Discount
    coupon: Coupon | None

    @property
    def active(self) -> bool:
        return self.discount.removed_at is None


@dataclass(frozen=True)
class FlowLine:
    flow: CancellationFlow
    reason: str | None
    offer: OfferView | None


@dataclass(frozen=True)
class EventLine:
    event: Event
    json: str


@dataclass(frozen=True)
class SubscriptionDetail:
    subscription: Subscription
    customer: Customer | None
    plan: PlanLine | None
    items: list[ItemLine]
    discounts: list[DiscountLine]
    invoices: list[Invoice]
    cancellation: CancellationView | None
    flows: list[FlowLine]
    cancellation_events: list[EventLine]
    actions: list[StaffAction]
    payment_methods: list[PaymentMethod]
    coupons: list[Coupon]  # what an operator can apply


def payment_methods_of(session: Session, customer_id: str) -> list[PaymentMethod]:
    return list(
        session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.customer_id == customer_id, PaymentMethod.detached.is_(False))
            .order_by(PaymentMethod.pk)
        )
    )


def valid_coupons(session: Session, *, now: int) -> list[Coupon]:
    coupons = session.scalars(select(Coupon).where(Coupon.deleted.is_(False)).order_by(Coupon.pk.desc()))
    return [c for c in coupons if coupon_is_valid(c, now)]


def records_cancellation(event: Event, subscription: Subscription) -> bool:
    """The event that recorded this cancellation (its decision, or its taking effect)."""
    if event.type == "customer.subscription.deleted":
        return True
    previous = event.data.get("previous_attributes") or {}
    after = event.data.get("object") or {}
    return (
        subscription.canceled_at is not None
        and after.get("canceled_at") == subscription.canceled_at
        and any(field in previous for field in CANCELLATION_FIELDS)
    )


def cancellation_events(session: Session, subscription: Subscription) -> list[EventLine]:
    if subscription.canceled_at is None:
        return []
    events = session.scalars(
        select(Event)
        .where(Event.object_id == subscription.id, Event.type.in_(SUBSCRIPTION_EVENT_TYPES))
        .order_by(Event.pk.desc())
        .limit(EVENT_SCAN_LIMIT)
    )
    chosen = [e for e in events if records_cancellation(e, subscription)]
    # The decision first: the oldest `updated` among those that set this `canceled_at`.
    chosen.sort(key=lambda e: e.pk)
    updated = [e for e in chosen if e.type == "customer.subscription.updated"][:1]
    deleted = [e for e in chosen if e.type == "customer.subscription.deleted"][-1:]
    return [EventLine(event=e, json=pretty_json(serialize_event(e))) for e in updated + deleted]


def subscription_detail(session: Session, subscription: Subscription, *, now: int) -> SubscriptionDetail:
    customer = session.scalar(select(Customer).where(Customer.id == subscription.customer_id))
    items = []
    for item in subscription.items:
        price = session.scalar(select(Price).where(Price.id == item.price_id))
        product = session.scalar(select(Product).where(Product.id == price.product_id)) if price else None
        items.append(ItemLine(item=item, price=price, product=product))
    discounts = [
        DiscountLine(discount=d, coupon=session.scalar(select(Coupon).where(Coupon.id == d.coupon_id)))
        for d in session.scalars(
            select(Discount).where(Discount.subscription_id == subscription.id).order_by(Discount.pk.desc())
        )
    ]
    invoices = list(
        session.scalars(
            select(Invoice)
            .where(Invoice.subscription_id == subscription.id)
            .order_by(Invoice.pk.desc())
            .limit(24)
        )
    )
    labels = custom_reason_labels(session)
    flows = [
        FlowLine(
            flow=flow,
            reason=reason_label(
                {"feedback": flow.feedback}, custom_code=flow.reason_code, custom_labels=labels
            )
            if flow.reason_at is not None
            else None,
            offer=describe(session, flow.offer, subscription) if flow.offer else None,
        )
        for flow in session.scalars(
            select(CancellationFlow)
            .where(CancellationFlow.subscription_id == subscription.id)
            .order_by(CancellationFlow.pk.desc())
            .limit(50)
        )
    ]
    actions = list(
        session.scalars(
            select(StaffAction)
            .where(StaffAction.object_id == subscription.id)
            .order_by(StaffAction.pk.desc())
            .limit(50)
        )
    )
    return SubscriptionDetail(
        subscription=subscription,
        customer=customer,
        plan=plan_lines(session, [subscription]).get(subscription.id),
        items=items,
        discounts=discounts,
        invoices=invoices,
        cancellation=explain(session, [subscription]).get(subscription.id),
        flows=flows,
        cancellation_events=cancellation_events(session, subscription),
        actions=actions,
        payment_methods=payment_methods_of(session, subscription.customer_id),
        coupons=valid_coupons(session, now=now),
    )


# --- customers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerDetail:
    customer: Customer
    subscriptions: list[Subscription]
    plans: dict[str, PlanLine]
    invoices: list[Invoice]
    payment_methods: list[PaymentMethod]
    events: list[Event]


def customer_detail(session: Session, customer: Customer) -> CustomerDetail:
    subscriptions = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.customer_id == customer.id)
            .order_by(Subscription.pk.desc())
        )
    )
    invoices = list(
        session.scalars(
            select(Invoice).where(Invoice.customer_id == customer.id).order_by(Invoice.pk.desc()).limit(50)
        )
    )
    methods = payment_methods_of(session, customer.id)
    about = [customer.id, *(s.id for s in subscriptions), *(i.id for i in invoices), *(m.id for m in methods)]
    events = list(
        session.scalars(
            select(Event)
            .where(or_(*(Event.object_id.in_(about[i : i + 500]) for i in range(0, len(about), 500))))
            .order_by(Event.pk.desc())
            .limit(50)
        )
    )
    return CustomerDetail(
        customer=customer,
        subscriptions=subscriptions,
        plans=plan_lines(session, subscriptions),
        invoices=invoices,
        payment_methods=methods,
        events=events,
    )
