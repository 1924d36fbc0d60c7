"""What billing needs from the runtime: the payment processor and the dunning policy."""

from __future__ import annotations

from dataclasses import dataclass

from tenure.config import Settings
from tenure.payments.processor import PaymentProcessor, get_processor
from tenure.runtime import Runtime

DAY = 86_400


@dataclass(frozen=True)
class DunningPolicy:
    retry_days: tuple[int, ...]
    final_action: str  # "cancel" | "unpaid"

    @classmethod
    def from_settings(cls, settings: Settings) -> DunningPolicy:
        action = (
            settings.dunning_final_action
            if settings.dunning_final_action in ("cancel", "unpaid")
            else "cancel"
        )
        return cls(
            retry_days=tuple(sorted(d for d in settings.dunning_retry_days if d > 0)), final_action=action
        )

    def next_retry(self, first_failed_at: int, attempts_so_far: int) -> int | None:
        """When to retry after `attempts_so_far` attempts (the first one included), or None: give up."""
        index = attempts_so_far - 1
        if index < len(self.retry_days):
            return first_failed_at + self.retry_days[index] * DAY
        return None


@dataclass(frozen=True)
class BillingContext:
    processor: PaymentProcessor
    dunning: DunningPolicy

    @classmethod
    def of(cls, runtime: Runtime) -> BillingContext:
        return cls(processor=get_processor(runtime), dunning=DunningPolicy.from_settings(runtime.settings))
