"""Objects a customer may reach in the portal: only their own (anything else is a 404 page)."""

from __future__ import annotations

from sqlalchemy import select

from tenure.portal.pages.visit import PortalPageError, PortalVisit
from tenure.subscriptions.models import Subscription


def own_subscription(visit: PortalVisit, subscription_id: str, *, for_update: bool = False) -> Subscription:
    stmt = select(Subscription).where(
        Subscription.id == subscription_id, Subscription.customer_id == visit.customer.id
    )
    if for_update:
        stmt = stmt.with_for_update()
    subscription = visit.db.scalar(stmt)
    if subscription is None:
        raise PortalPageError(404, "not_found", visit.locale)
    return subscription


def text(visit: PortalVisit, key: str) -> str | None:
    """The operator's override of a customer-facing text in the visit's locale, if any."""
    texts = visit.extensions.get("texts") or {}
    value = (texts.get(visit.locale) or {}).get(key)
    return str(value) if value else None
