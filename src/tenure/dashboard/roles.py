"""Who may do what: `admin` everything; `analyst` reads subscriptions, customers, coupons, insights and
SQL, and changes nothing (no settings, keys, webhooks, outbox or audit log)."""

from __future__ import annotations

from enum import StrEnum

from tenure.dashboard.errors import DashboardError
from tenure.staff.models import StaffRole


class Capability(StrEnum):
    READ = "read"  # overview, customers, subscriptions, coupons (and insights, SQL)
    OPERATE = "operate"  # cancel, undo a scheduled cancel, apply or create coupons
    SETTINGS = "settings"  # portal settings
    KEYS = "keys"
    WEBHOOKS = "webhooks"
    OUTBOX = "outbox"  # emails may carry portal links: admins only
    AUDIT = "audit"  # the audit log: who changed what, from which address


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    StaffRole.ADMIN: frozenset(Capability),
    StaffRole.ANALYST: frozenset({Capability.READ}),
}


def can(role: str, capability: Capability) -> bool:
    """Unknown roles can do nothing."""
    return capability in ROLE_CAPABILITIES.get(role, frozenset())


def ensure(role: str, capability: Capability) -> None:
    """Refuse (a 403 page) what `role` may not do, whether asked from the UI or not."""
    if not can(role, capability):
        raise DashboardError(403, "forbidden")
