"""Seeding large stores fast: one subscription made through Tenure's API, cloned N times with bulk
INSERTs (new ids, the periods a scenario needs), so 100k or 1M rows take seconds, not hours.

Rows are built from the template's own columns (through Tenure's table definitions), so columns
other features add later are carried along.
"""

from __future__ import annotations

import random
import string
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, select

import tenure.models as models
from tenure.config import Settings
from tenure.runtime import Runtime

_ALPHABET = string.ascii_letters + string.digits
_PREFIX_ALPHABET = string.ascii_uppercase + string.digits
CHUNK = 5_000
Shape = Callable[[int, dict[str, Any], dict[str, Any]], None]
# Rows of another table that go with a clone (e.g. a rollup row), or None: (customer, subscription).
Companion = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]


class FastIds:
    """Stripe-shaped ids from a seeded PRNG: bench rows need uniqueness, not unpredictability."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def new(self, prefix: str) -> str:
        return f"{prefix}_{''.join(self._random.choices(_ALPHABET, k=24))}"

    def invoice_prefix(self) -> str:
        return "".join(self._random.choices(_PREFIX_ALPHABET, k=8))


@contextmanager
def runtime_for(url: str, data_dir: Any, secret_key: str) -> Iterator[Runtime]:
    # The webhook receivers are on loopback.
    runtime = Runtime.build(
        Settings(data_dir=data_dir, database_url=url, secret_key=secret_key, webhook_allow_private=True)
    )
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def api_client(runtime: Runtime, secret: str) -> Iterator[Any]:
    """Tenure's real API in this process (no server needed to set up a scenario's templates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

        from tenure.app import create_app

        with TestClient(create_app(runtime), headers={"Authorization": f"Bearer {secret}"}) as client:
            yield client


def template_subscription(client: Any) -> str:
    """A paying customer (card on file) on a monthly plan, made through the API; returns its id."""
    product = client.post("/v1/products", data={"name": "Bench plan"}).json()
    price = client.post(
        "/v1/prices",
        data={
            "product": product["id"],
            "unit_amount": "1500",
            "currency": "usd",
            "recurring[interval]": "month",
        },
    ).json()
    customer = client.post(
        "/v1/customers",
        data={
            "email": "template@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa",
        },
    ).json()
    subscription = client.post(
        "/v1/subscriptions", data={"customer": customer["id"], "items[0][price]": price["id"]}
    ).json()
    if "id" not in subscription:
        raise LookupError(f"could not create the template subscription: {subscription}")
    return str(subscription["id"])


def template_row(runtime: Runtime, table: str, **where: Any) -> dict[str, Any]:
    """A row of `table` (without its pk), to clone."""
    return _row(runtime, _table(table), **where)


def _table(name: str) -> Table:
    table = models.Base.metadata.tables[name]
    return table


def _row(runtime: Runtime, table: Table, **where: Any) -> dict[str, Any]:
    stmt = select(table)
    for column, value in where.items():
        stmt = stmt.where(table.c[column] == value)
    with runtime.engine.connect() as connection:
        row = connection.execute(stmt).mappings().first()
    if row is None:
        raise LookupError(f"no {table.name} row with {where}")
    return {key: value for key, value in row.items() if key != "pk"}


def due_for_renewal(anchor: int, period_end: int) -> Shape:
    """A shape for `clone_subscriptions`: active subscriptions started at `anchor` whose first period
    ends at `period_end`, when they are due, each customer's first invoice number already used."""

    def shape(_index: int, customer: dict[str, Any], subscription: dict[str, Any]) -> None:
        customer.update(created=anchor, next_invoice_sequence=2)
        subscription.update(
            status="active",
            created=anchor,
            billing_cycle_anchor=anchor,
            start_date=anchor,
            current_period_start=anchor,
            current_period_end=period_end,
            next_action_at=period_end,
        )

    return shape


def clone_subscriptions(
    runtime: Runtime,
    *,
    template_subscription: str,
    count: int,
    shape: Shape,
    seed: int = 7,
    companions: dict[str, Companion] | None = None,
) -> None:
    """Insert `count` copies of the template subscription, each with its own customer and card.

    `shape(index, customer, subscription)` adjusts each copy's rows (periods, status, reasons…);
    `companions` add rows to other tables for a copy (what Tenure maintains beside a subscription).
    """
    companions = companions or {}
    customers, methods, subscriptions, items = (
        _table(name) for name in ("customers", "payment_methods", "subscriptions", "subscription_items")
    )
    template_sub = _row(runtime, subscriptions, id=template_subscription)
    template_customer = _row(runtime, customers, id=template_sub["customer_id"])
    template_method = _row(runtime, methods, id=template_customer["default_payment_method_id"])
    template_item = _row(runtime, items, subscription_id=template_subscription)
    ids = FastIds(seed)
    for start in range(0, count, CHUNK):
        batch: dict[str, list[dict[str, Any]]] = {"c": [], "m": [], "s": [], "i": []}
        extra: dict[str, list[dict[str, Any]]] = {name: [] for name in companions}
        for index in range(start, min(count, start + CHUNK)):
            customer_id, method_id, subscription_id = ids.new("cus"), ids.new("pm"), ids.new("sub")
            customer = {
                **template_customer,
                "id": customer_id,
                "email": f"clone{index}@example.com",
                "name": f"Clone {index}",
                "invoice_prefix": ids.invoice_prefix(),
                "default_payment_method_id": method_id,
            }
            method = {**template_method, "id": method_id, "customer_id": customer_id}
            subscription = {
                **template_sub,
                "id": subscription_id,
                "customer_id": customer_id,
                "latest_invoice_id": None,
            }
            shape(index, customer, subscription)
            batch["c"].append(customer)
            batch["m"].append(method)
            batch["s"].append(subscription)
            batch["i"].append({**template_item, "id": ids.new("si"), "subscription_id": subscription_id})
            for name, build in companions.items():
                row = build(customer, subscription)
                if row is not None:
                    extra[name].append(row)
        with runtime.engine.begin() as connection:
            connection.execute(customers.insert(), batch["c"])
            connection.execute(methods.insert(), batch["m"])
            connection.execute(subscriptions.insert(), batch["s"])
            connection.execute(items.insert(), batch["i"])
            for name, rows in extra.items():
                if rows:
                    connection.execute(_table(name).insert(), rows)
    analyze(runtime)


def analyze(runtime: Runtime) -> None:
    """Fresh planner statistics after a bulk load, as an operator's autovacuum would have."""
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
