"""Acceptance: two billing runners on PostgreSQL over 2,000 due subscriptions renew each exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tenure.billing_context import BillingContext
from tenure.clock import FrozenClock
from tenure.config import Settings
from tenure.customers.schemas import CustomerCreate
from tenure.customers.service import create_customer
from tenure.invoices.models import Invoice
from tenure.prices.schemas import PriceCreate
from tenure.prices.service import create_price
from tenure.products.schemas import ProductCreate
from tenure.products.service import create_product
from tenure.runtime import Runtime
from tenure.subscriptions.create import create_subscription
from tenure.subscriptions.renew import run_billing
from tenure.subscriptions.schemas import ItemParams, SubscriptionCreate

START = 1_735_689_600  # 2025-01-01
BOOK = 2_000
PER_CUSTOMER = 20  # several subscriptions share a customer row: the runners contend on it too


@pytest.mark.timeout(600)
def test_two_runners_renew_each_subscription_once(settings: Settings) -> None:
    if not settings.effective_database_url.startswith("postgresql"):
        pytest.skip("row-lock claiming (FOR UPDATE SKIP LOCKED) is the PostgreSQL path")
    clock = FrozenClock(START)
    seeding = Runtime.build(settings, clock=clock)
    context = BillingContext.of(seeding)
    with seeding.sessionmaker() as session:
        product = create_product(session, ProductCreate(name="Book"), now=START)
        price = create_price(
            session,
            PriceCreate.model_validate(
                {
                    "product": product.id,
                    "unit_amount": 900,
                    "currency": "eur",
                    "recurring": {"interval": "month"},
                }
            ),
            now=START,
        )
        for index in range(BOOK):
            customer = create_customer(
                session,
                CustomerCreate(
                    email=f"c{index}@example.com",
                    payment_method="pm_card_visa",
                    invoice_settings={"default_payment_method": "pm_card_visa"},
                ),
                real_now=START,
                processor=context.processor,
            )
            create_subscription(
                session,
                SubscriptionCreate(customer=customer.id, items=[ItemParams(price=price.id)]),
                real_now=START,
                context=context,
            )
        session.commit()
    seeding.close()

    clock.set(START + 31 * 86_400 + 1)  # every subscription is due once
    runners = [Runtime.build(settings, clock=clock) for _ in range(2)]
    counts: list[int] = []
    errors: list[BaseException] = []

    def work(runtime: Runtime) -> None:
        try:
            counts.append(run_billing(runtime))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(runtime,)) for runtime in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert sum(counts) == BOOK
    with runners[0].sessionmaker() as session:
        renewals = session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.billing_reason == "subscription_cycle")
        )
        distinct = session.scalar(
            select(func.count(func.distinct(Invoice.subscription_id))).where(
                Invoice.billing_reason == "subscription_cycle"
            )
        )
    assert renewals == BOOK
    assert distinct == BOOK
    for runtime in runners:
        runtime.close()
