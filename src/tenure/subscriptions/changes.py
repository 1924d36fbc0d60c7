"""One `customer.subscription.updated` per change, serialized once.

Before a change, `SubscriptionBefore.of` copies the columns the API object is made of, the items and
the discounts' ids: no serialization. After it, the subscription is serialized once, and the object
as it was is that serialization with the changed fields put back to their old values, from which
`previous_attributes` is taken. Only the fields that changed are made again: the old items when
the items or the period changed, the old discounts when they changed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.prices.models import Price
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.schemas import active_discount_ids, serialize_item, subscription_payload

# Columns shown as they are in the API object, under their field's name.
_FIELDS = {
    "billing_cycle_anchor": "billing_cycle_anchor",
    "cancel_at": "cancel_at",
    "cancel_at_period_end": "cancel_at_period_end",
    "canceled_at": "canceled_at",
    "cancellation_details": "cancellation_details",
    "created": "created",
    "currency": "currency",
    "customer_id": "customer",
    "default_payment_method_id": "default_payment_method",
    "description": "description",
    "ended_at": "ended_at",
    "latest_invoice_id": "latest_invoice",
    "livemode": "livemode",
    "metadata_": "metadata",
    "pause_collection": "pause_collection",
    "start_date": "start_date",
    "status": "status",
    "test_clock_id": "test_clock",
    "trial_end": "trial_end",
    "trial_start": "trial_start",
}
# Columns shown only inside each item.
_PERIOD = ("current_period_start", "current_period_end")


@dataclass(frozen=True, slots=True)
class ItemBefore:
    id: str
    created: int
    metadata_: dict[str, Any]
    price_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class _Period:
    """What an item's serialization reads of its subscription."""

    id: str
    current_period_start: int
    current_period_end: int


@dataclass(frozen=True)
class SubscriptionBefore:
    """A subscription's API object as it is now, kept as copies of what it is made of."""

    columns: Mapping[str, Any]
    items: tuple[ItemBefore, ...]
    discount_ids: tuple[str, ...]

    @classmethod
    def of(cls, session: Session, subscription: Subscription) -> SubscriptionBefore:
        return cls(
            columns={name: copy.deepcopy(getattr(subscription, name)) for name in (*_FIELDS, *_PERIOD)},
            items=tuple(
                ItemBefore(item.id, item.created, copy.deepcopy(item.metadata_), item.price_id, item.quantity)
                for item in subscription.items
            ),
            discount_ids=tuple(active_discount_ids(session, subscription)),
        )

    def changed_items(self, subscription: Subscription) -> bool:
        now = tuple(
            ItemBefore(item.id, item.created, item.metadata_, item.price_id, item.quantity)
            for item in subscription.items
        )
        return now != self.items or any(self.columns[name] != getattr(subscription, name) for name in _PERIOD)

    def as_it_was(
        self, subscription: Subscription, after: dict[str, Any], *, prices: Mapping[str, Price]
    ) -> dict[str, Any]:
        """The API object before the change: `after`, with the fields that changed as they were."""
        before = dict(after)
        for column, field in _FIELDS.items():
            old = self.columns[column]
            if old != getattr(subscription, column):
                before[field] = _shown(column, old)
        if self.changed_items(subscription):
            period = _Period(subscription.id, self.columns[_PERIOD[0]], self.columns[_PERIOD[1]])
            data = [serialize_item(item, prices[item.price_id], period) for item in self.items]
            before["items"] = {**after["items"], "data": data, "total_count": len(data)}
        if list(self.discount_ids) != after["discounts"]:
            before["discounts"] = list(self.discount_ids)
        return before


def _shown(column: str, value: Any) -> Any:
    """A column's value as the API object shows it (see `subscription_payload`)."""
    if column == "metadata_":
        return dict(value or {})
    if isinstance(value, dict):
        return dict(value)
    return value


def serialize_change(
    session: Session, subscription: Subscription, before: SubscriptionBefore
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the object after the change, the object before it): one serialization, the prices of the
    old and new items read at once."""
    wanted = {item.price_id for item in subscription.items} | {item.price_id for item in before.items}
    prices = {p.id: p for p in session.scalars(select(Price).where(Price.id.in_(wanted)))} if wanted else {}
    after = subscription_payload(
        subscription, prices=prices, discount_ids=active_discount_ids(session, subscription)
    )
    return after, before.as_it_was(subscription, after, prices=prices)
