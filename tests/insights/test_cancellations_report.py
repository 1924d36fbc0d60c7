"""Acceptance: on a generated book with a known mix, every figure of the insights API equals an
independent computation written here from the plan (not from Tenure's tables)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tenure.billing_context import BillingContext
from tenure.clock import FrozenClock
from tenure.config import Settings
from tenure.coupons.schemas import CouponCreate
from tenure.coupons.service import create_coupon
from tenure.customers.schemas import CustomerCreate
from tenure.customers.service import create_customer
from tenure.prices.schemas import PriceCreate
from tenure.prices.service import create_price
from tenure.products.schemas import ProductCreate
from tenure.products.service import create_product
from tenure.retention import flow as flows
from tenure.retention.offers import Offer
from tenure.runtime import Runtime
from tenure.subscriptions import cancel as cancelling
from tenure.subscriptions.common import get_subscription, recording_update
from tenure.subscriptions.create import create_subscription
from tenure.subscriptions.models import CancellationReason
from tenure.subscriptions.schemas import DiscountParams, ItemParams, SubscriptionCreate

DAY = 86_400
T0 = 1_736_121_600  # Monday 2025-01-06 00:00 UTC
REASONS = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]
PRICES = [("eur", 2000, "month", 2000), ("eur", 24000, "year", 2000), ("usd", 3000, "month", 3000)]
USD_TO_EUR = "0.9"
# Thousands of subscriptions, created one hour apart: cancellations fall inside and outside the window.
BOOK = 2_000


@dataclass
class Planned:
    subscription: str
    price: str
    currency: str
    mrr: int  # in the subscription's currency, after discounts, per month
    canceled_at: int | None = None
    feedback: str | None = None
    involuntary: bool = False
    reason: str = "cancellation_requested"
    started_at: int = 0


def category(p: Planned) -> str:
    """What the insights count a cancellation under (docs/insights.md): the customer's feedback if
    they gave one, else the involuntary reason (payment failed / disputed), else `unspecified`."""
    if p.feedback:
        return p.feedback
    return p.reason if p.involuntary else "unspecified"


def to_eur(amount: int, currency: str) -> int:
    if currency == "eur":
        return amount
    value = amount * 9
    return value // 10 + (1 if value % 10 >= 5 else 0)  # half away from zero, amounts are positive


def seed(settings: Settings) -> tuple[list[Planned], list[dict[str, object]]]:
    clock = FrozenClock(T0)
    runtime = Runtime.build(settings, clock=clock)
    context = BillingContext.of(runtime)
    plans: list[Planned] = []
    flow_plans: list[dict[str, object]] = []
    with runtime.sessionmaker() as session:
        product = create_product(session, ProductCreate(name="Book"), now=T0)
        prices = [
            create_price(
                session,
                PriceCreate.model_validate(
                    {
                        "product": product.id,
                        "currency": cur,
                        "unit_amount": amount,
                        "recurring": {"interval": interval},
                    }
                ),
                now=T0,
            ).id
            for cur, amount, interval, _ in PRICES
        ]
        half = create_coupon(
            session, CouponCreate.model_validate({"percent_off": 50, "duration": "forever"}), now=T0
        )
        quarter = create_coupon(
            session, CouponCreate.model_validate({"percent_off": 25, "duration": "forever"}), now=T0
        )

        def subscribe(index: int, at: int, *, discounted: bool) -> Planned:
            kind = index % 3
            customer = create_customer(
                session,
                CustomerCreate(
                    email=f"b{index}@example.com",
                    payment_method="pm_card_visa",
                    invoice_settings={"default_payment_method": "pm_card_visa"},
                ),
                real_now=at,
                processor=context.processor,
            )
            params = SubscriptionCreate(
                customer=customer.id,
                items=[ItemParams(price=prices[kind])],
                discounts=[DiscountParams(coupon=half.id)] if discounted else None,
            )
            sub = create_subscription(session, params, real_now=at, context=context)
            base = PRICES[kind][3]
            return Planned(
                sub.id, prices[kind], PRICES[kind][0], base // 2 if discounted else base, started_at=at
            )

        for index in range(BOOK):
            created = T0 + index * 3600
            plan = subscribe(index, created, discounted=index % 4 == 0)
            at = created + (index % 6) * 7 * DAY + 12 * 3600
            subscription = get_subscription(session, plan.subscription)
            if index % 5 == 0:
                # Dunning gave up, or (one in four) a dispute; one in twenty-five also carries a
                # customer's feedback (imported from elsewhere: Tenure's own dunning clears it).
                reason = (
                    CancellationReason.PAYMENT_DISPUTED
                    if index % 20 == 5
                    else CancellationReason.PAYMENT_FAILED
                )
                said = REASONS[index % 8] if index % 125 == 0 else None
                cancelling.cancel_now(session, subscription, now=at, reason=reason, feedback=said)
                plan.involuntary, plan.reason, plan.feedback = True, reason.value, said
            else:
                plan.feedback = REASONS[index % 8]
                if index % 3 == 1:
                    flow = flows.start(
                        session,
                        subscription,
                        source="portal",
                        locale="en",
                        portal_session_id=None,
                        now=at - 600,
                    )
                    flows.record_reason(
                        flow, reason_code=plan.feedback, feedback=plan.feedback, comment=None, now=at - 300
                    )
                    flows.show_offer(flow, Offer("coupon", coupon=quarter), now=at - 200)
                    flows.cancel(session, flow, subscription, mode="at_period_end", prorate=False, now=at)
                    flow_plans.append(
                        {
                            "feedback": plan.feedback,
                            "started": at - 600,
                            "offer": True,
                            "accepted": False,
                            "mrr": plan.mrr,
                            "currency": plan.currency,
                        }
                    )
                elif index % 2 == 0:
                    cancelling.cancel_now(session, subscription, now=at, feedback=plan.feedback)
                else:
                    with recording_update(session, subscription, now=at):
                        cancelling.schedule_cancel(subscription, now=at, feedback=plan.feedback, comment=None)
            plan.canceled_at = at
            plans.append(plan)

        # Saved offers: accepted on day 10; some cancel again before 30 days, some between 30 and 60.
        for extra in range(12):
            index = 100 + extra
            plan = subscribe(index, T0 + extra * 60, discounted=False)
            subscription = get_subscription(session, plan.subscription)
            flow = flows.start(
                session,
                subscription,
                source="deep_link",
                locale="fr",
                portal_session_id=None,
                now=T0 + 10 * DAY,
            )
            flows.record_reason(
                flow, reason_code="too_expensive", feedback="too_expensive", comment=None, now=T0 + 10 * DAY
            )
            flows.show_offer(flow, Offer("coupon", coupon=quarter), now=T0 + 10 * DAY)
            flows.accept_offer(session, flow, subscription, context=context, now=T0 + 10 * DAY + 60)
            accepted_at = T0 + 10 * DAY + 60
            later = {0: 20, 1: 45}.get(extra % 3)
            saved_mrr_base = plan.mrr  # the flow records the list MRR at its start
            if later is not None:
                at = accepted_at + later * DAY
                with recording_update(session, subscription, now=at):
                    cancelling.schedule_cancel(subscription, now=at, feedback="too_expensive", comment=None)
                plan.canceled_at, plan.feedback = at, "too_expensive"
                plan.mrr = plan.mrr * 3 // 4  # the accepted 25 % coupon (exact for these prices)
                plans.append(plan)
            flow_plans.append(
                {
                    "feedback": "too_expensive",
                    "started": T0 + 10 * DAY,
                    "offer": True,
                    "accepted": True,
                    "accepted_at": accepted_at,
                    "canceled_after": later,
                    "mrr": saved_mrr_base,
                    "currency": plan.currency,
                }
            )
        session.commit()
    runtime.close()
    return plans, flow_plans


# Seeding thousands of subscriptions through the services takes one to two minutes on two cores.
@pytest.mark.timeout(600)
def test_every_figure_matches_an_independent_computation(client: TestClient, settings: Settings) -> None:
    plans, flow_plans = seed(settings)
    settings.fx_rates = f"usd={USD_TO_EUR}"
    settings.reporting_currency = "eur"
    start, end = T0, T0 + 12 * 7 * DAY
    report = client.get(
        "/v1/insights/cancellations", params={"created[gte]": start, "created[lt]": end, "interval": "week"}
    ).json()
    canceled = [p for p in plans if p.canceled_at is not None and start <= p.canceled_at < end]

    assert report["object"] == "insights.cancellations"
    assert report["total"] == len(canceled)
    by_reason: Counter[str] = Counter(category(p) for p in canceled)
    mrr_by_reason: dict[str, int] = defaultdict(int)
    for p in canceled:
        mrr_by_reason[category(p)] += to_eur(p.mrr, p.currency)
    # Involuntary churn is its own category, never "no reason given"; disputes apart from failures.
    assert by_reason["payment_failed"] > 0 and by_reason["payment_disputed"] > 0
    assert any(p.involuntary and p.feedback for p in canceled), "feedback wins over the reason"
    assert "unspecified" not in by_reason
    got = {row["feedback"]: (row["count"], row["mrr_lost"], row["share"]) for row in report["by_feedback"]}
    assert got == {
        key: (count, mrr_by_reason[key], round(count / len(canceled), 4)) for key, count in by_reason.items()
    }
    counts = [row["count"] for row in report["by_feedback"]]
    assert counts == sorted(counts, reverse=True)
    assert report["mrr_lost"] == sum(to_eur(p.mrr, p.currency) for p in canceled)

    assert report["involuntary"] == sum(p.involuntary for p in canceled)
    assert report["voluntary"] == len(canceled) - report["involuntary"]

    def week(p: Planned) -> int:
        return T0 + ((p.canceled_at or 0) - T0) // (7 * DAY) * 7 * DAY

    weeks: Counter[int] = Counter(week(p) for p in canceled)
    assert {row["start"]: row["count"] for row in report["by_period"] if row["count"]} == dict(weeks)
    per_week: dict[int, Counter[str]] = defaultdict(Counter)
    for p in canceled:
        per_week[week(p)][category(p)] += 1
    assert {row["start"]: row["by_feedback"] for row in report["by_period"] if row["count"]} == {
        start: dict(counts) for start, counts in per_week.items()
    }
    assert [row["start"] for row in report["by_period"]] == [T0 + k * 7 * DAY for k in range(12)]

    per_price: Counter[str] = Counter(p.price for p in canceled)
    assert {row["price"]: row["count"] for row in report["by_price"]} == dict(per_price)

    def bucket(p: Planned) -> str:
        days = ((p.canceled_at or 0) - p.started_at) // DAY
        return (
            "lt_1m"
            if days < 30
            else "1_3m"
            if days < 91
            else "3_6m"
            if days < 182
            else "6_12m"
            if days < 365
            else "gt_12m"
        )

    assert {row["bucket"]: row["count"] for row in report["by_tenure"]} == {
        name: sum(bucket(p) == name for p in canceled)
        for name in ("lt_1m", "1_3m", "3_6m", "6_12m", "gt_12m")
    }

    retention = report["retention"]
    in_window = [f for f in flow_plans if start <= int(str(f["started"])) < end]
    accepted = [f for f in in_window if f["accepted"]]
    assert retention["flows_started"] == len(in_window)
    assert retention["reasons_given"] == len(in_window)
    assert retention["offers_shown"] == len(in_window)
    assert retention["offers_accepted"] == len(accepted)

    def saved(f: dict[str, object], days: int) -> bool:
        later = f["canceled_after"]
        return later is None or int(str(later)) > days

    assert retention["saved_30d"] == sum(saved(f, 30) for f in accepted)
    assert retention["saved_60d"] == sum(saved(f, 60) for f in accepted)
    assert retention["saved_90d"] == sum(saved(f, 90) for f in accepted)
    assert retention["saved_mrr"] == sum(
        to_eur(int(str(f["mrr"])), str(f["currency"])) for f in accepted if saved(f, 30)
    )
    assert {row["offer"]: row["offers_accepted"] for row in retention["by_offer"]} == {
        "coupon": len(accepted)
    }
    assert report["unconverted_currencies"] == []

    previous = client.get(
        "/v1/insights/cancellations",
        params={"created[gte]": start + 3 * 7 * DAY, "created[lt]": start + 6 * 7 * DAY},
    ).json()
    assert previous["previous"]["total"] == sum(
        1 for p in canceled if start <= (p.canceled_at or 0) < start + 3 * 7 * DAY
    )
    before = Counter(category(p) for p in canceled if start <= (p.canceled_at or 0) < start + 3 * 7 * DAY)
    assert {row["feedback"]: row["previous_count"] for row in previous["by_feedback"]} == {
        row["feedback"]: before.get(row["feedback"], 0) for row in previous["by_feedback"]
    }

    only_usd = [p for p in canceled if p.currency == "usd"]
    filtered = client.get(
        "/v1/insights/cancellations",
        params={"created[gte]": start, "created[lt]": end, "price": only_usd[0].price},
    ).json()
    assert filtered["total"] == len(only_usd)
    assert filtered["mrr_lost"] == sum(to_eur(p.mrr, "usd") for p in only_usd)

    # A window that starts and ends mid-day: whole days come from the daily rollup, the edges
    # from the per-subscription rows; the figures must not care.
    odd_start, odd_end = start + 9 * DAY + 7 * 3600 + 11, end - 5 * DAY - 3 * 3600 - 7
    odd = client.get(
        "/v1/insights/cancellations", params={"created[gte]": odd_start, "created[lt]": odd_end}
    ).json()
    inside = [p for p in canceled if odd_start <= (p.canceled_at or 0) < odd_end]
    assert odd["total"] == len(inside)
    assert {row["feedback"]: row["count"] for row in odd["by_feedback"]} == dict(
        Counter(category(p) for p in inside)
    )
    assert odd["mrr_lost"] == sum(to_eur(p.mrr, p.currency) for p in inside)
