"""How big and how long: the full run and `--quick` (under five minutes on the 2-core machine)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    concurrencies: tuple[int, ...]
    api_warmup_s: float
    api_duration_s: float
    # Paying customers the subscriptions load cycles through (spreads row locks as real traffic does).
    api_customers: int
    billing_sizes: tuple[int, ...]
    webhook_deliveries: int
    webhook_endpoints: int
    # A run still going after its budget is stopped (as by a crash) and measured over what it did.
    billing_budget_s: float
    webhook_budget_s: float
    insights_sizes: tuple[int, ...]
    insights_samples: int
    # Cancel POSTs per concurrency level (at least 2 per connection): each cancels a subscription once.
    portal_cancels: int


FULL = Profile(
    name="full",
    concurrencies=(1, 16, 64),
    api_warmup_s=2.0,
    api_duration_s=6.0,
    api_customers=256,
    billing_sizes=(10_000, 100_000),
    webhook_deliveries=10_000,
    webhook_endpoints=4,
    billing_budget_s=90.0,
    webhook_budget_s=60.0,
    insights_sizes=(10_000, 100_000, 1_000_000),
    insights_samples=50,
    portal_cancels=100,
)

QUICK = Profile(
    name="quick",
    concurrencies=(1, 16, 64),
    api_warmup_s=0.3,
    api_duration_s=1.0,
    api_customers=16,
    billing_sizes=(1_000,),
    webhook_deliveries=500,
    webhook_endpoints=4,
    billing_budget_s=15.0,
    webhook_budget_s=10.0,
    insights_sizes=(10_000,),
    insights_samples=10,
    portal_cancels=16,
)
