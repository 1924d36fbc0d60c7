"""Invoice numbers stay unique when one customer's invoices are created concurrently."""

from __future__ import annotations

import threading

from sqlalchemy import select

from tenure.billing_context import BillingContext
from tenure.config import Settings
from tenure.customers.models import Customer
from tenure.customers.schemas import CustomerCreate
from tenure.customers.service import create_customer
from tenure.invoices.models import Invoice
from tenure.prices.schemas import PriceCreate
from tenure.prices.service import create_price
from tenure.products.schemas import ProductCreate
from tenure.products.service import create_product
from tenure.runtime import Runtime
from tenure.subscriptions.create import create_subscription
from tenure.subscriptions.schemas import ItemParams, SubscriptionCreate

NOW = 1_767_225_600  # 2026-01-01
WRITERS = 8


def test_concurrent_subscriptions_of_one_customer_get_distinct_invoice_numbers(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    context = BillingContext.of(runtime)
    with runtime.sessionmaker() as session:
        product = create_product(session, ProductCreate(name="Seats"), now=NOW)
        price = create_price(
            session,
            PriceCreate.model_validate(
                {
                    "product": product.id,
                    "unit_amount": 500,
                    "currency": "eur",
                    "recurring": {"interval": "month"},
                }
            ),
            now=NOW,
        )
        customer = create_customer(
            session,
            CustomerCreate(
                email="busy@example.com",
                payment_method="pm_card_visa",
                invoice_settings={"default_payment_method": "pm_card_visa"},
            ),
            real_now=NOW,
            processor=context.processor,
        )
        session.commit()
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def subscribe() -> None:
        try:
            with runtime.sessionmaker() as session:
                start.wait()
                create_subscription(
                    session,
                    SubscriptionCreate(customer=customer.id, items=[ItemParams(price=price.id)]),
                    real_now=NOW,
                    context=context,
                )
                session.commit()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=subscribe) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with runtime.sessionmaker() as session:
        numbers = session.scalars(select(Invoice.number).where(Invoice.customer_id == customer.id)).all()
        stored = session.scalar(select(Customer).where(Customer.id == customer.id))
    runtime.close()
    assert sorted(numbers) == sorted(f"{customer.invoice_prefix}-{n:04d}" for n in range(1, WRITERS + 1))
    assert stored is not None and stored.next_invoice_sequence == WRITERS + 1
