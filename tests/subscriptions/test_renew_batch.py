"""Set-based renewals: the same rows as the per-subscription path, in a constant number of statements.

The differential test seeds one book (a few hundred subscriptions: plain renewals and every case
the batch leaves to the per-subscription path; monthly, quarterly, yearly and weekly; five
currencies, zero- and three-decimal ones among them; cards that succeed, decline and fail; credit
balances) twice, identically, into a fresh store, and runs the billing run once with the
set-based path and once without it. Every row of every table must then match (ids the run
created and surrogate keys normalized; SQL NULL told apart from JSON null); so must the charges
the processor was asked for and, per object, the order of the events.
"""

from __future__ import annotations

import random
import re
import secrets
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import JSON, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.orm import Session

import tenure.payments.processor as processor_module
from tenure import features
from tenure.billing_context import BillingContext
from tenure.clock import FrozenClock
from tenure.config import Settings
from tenure.consumers import drain
from tenure.coupons.schemas import CouponCreate
from tenure.coupons.service import create_coupon
from tenure.customers.schemas import CustomerCreate, CustomerUpdate, InvoiceSettingsParams
from tenure.customers.service import create_customer, update_customer
from tenure.events.models import Event
from tenure.events.service import EVENTS_RECORDED
from tenure.invoices.models import Invoice
from tenure.jobs.worker import run_once
from tenure.models import Base
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import ChargeResult, PaymentMethodDetails, PaymentProcessor, TestProcessor
from tenure.payments.service import attach_payment_method, detach_payment_method
from tenure.prices.schemas import PriceCreate
from tenure.prices.service import create_price
from tenure.products.schemas import ProductCreate
from tenure.products.service import create_product
from tenure.runtime import Runtime
from tenure.subscriptions import renew_batch
from tenure.subscriptions import service as subscriptions
from tenure.subscriptions.models import SubscriptionItem
from tenure.subscriptions.renew import run_billing
from tenure.subscriptions.renew_batch import GeneralPath, claim, classify, read_book
from tenure.subscriptions.schemas import ItemParams, SubscriptionCreate, SubscriptionUpdate
from tenure.webhooks.models import WebhookDelivery
from tests.events.test_consumers import _endpoint_for_every_event
from tests.subscriptions.test_thirteen_months import ts

DAY = 86_400
SEED_RUN_AT = ts(2025, 1, 20)
RUN_AT = ts(2025, 2, 3)


# ---------------------------------------------------------------------------------------------
# The processor, recording what it is asked to charge


class RecordingProcessor:
    __test__ = False

    def __init__(self, inner: TestProcessor) -> None:
        self.inner = inner
        self.charges: list[tuple[str, int, str, str]] = []

    def create_payment_method(self, *, type: str, details: Mapping[str, Any]) -> PaymentMethodDetails:
        return self.inner.create_payment_method(type=type, details=details)

    def resolve_token(self, token: str) -> PaymentMethodDetails | None:
        return self.inner.resolve_token(token)

    def charge(
        self, payment_method: PaymentMethod, *, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        self.charges.append((payment_method.id, amount, currency, idempotency_key))
        return self.inner.charge(
            payment_method, amount=amount, currency=currency, idempotency_key=idempotency_key
        )


Recording = TypeVar("Recording", bound=RecordingProcessor)


def _one_processor(
    monkeypatch: pytest.MonkeyPatch, clock: FrozenClock, kind: Callable[[TestProcessor], Recording]
) -> list[Recording]:
    """Every runtime charges through one `kind` wrapping the test processor, made on first use with
    that runtime's pepper; the list returned holds it then."""
    made: list[Recording] = []

    def factory(runtime: Runtime) -> PaymentProcessor:
        if not made:
            made.append(kind(TestProcessor(pepper=runtime.settings.resolved_secret_key(), clock=clock)))
        return made[0]

    monkeypatch.setattr(processor_module, "processor_factory", factory)
    return made


# ---------------------------------------------------------------------------------------------
# The book


@dataclass
class Catalog:
    prices: dict[str, str]
    coupons: dict[str, str]


def _catalog(session: Session, now: int) -> Catalog:
    team = create_product(session, ProductCreate(name="Team", id="prod_team"), now=now).id
    seats = create_product(session, ProductCreate(name="Seats", id="prod_seats"), now=now).id
    shapes = {
        "eur_month": (team, 2000, "eur", "month", 1),
        "eur_year": (team, 20000, "eur", "year", 1),
        "usd_month": (team, 2500, "usd", "month", 1),
        "usd_year": (team, 24000, "usd", "year", 1),
        "jpy_month": (team, 1500, "jpy", "month", 1),
        "kwd_month": (team, 3500, "kwd", "month", 1),
        "gbp_quarter": (team, 6000, "gbp", "month", 3),
        "eur_free": (team, 0, "eur", "month", 1),
        "eur_week": (team, 700, "eur", "week", 1),
        "eur_seats": (seats, 500, "eur", "month", 1),
    }
    prices = {
        name: create_price(
            session,
            PriceCreate.model_validate(
                {
                    "product": product,
                    "unit_amount": amount,
                    "currency": currency,
                    "recurring": {"interval": interval, "interval_count": count},
                }
            ),
            now=now,
        ).id
        for name, (product, amount, currency, interval, count) in shapes.items()
    }
    coupons = {
        "repeating": create_coupon(
            session,
            CouponCreate(id="quarter_off", percent_off=25, duration="repeating", duration_in_months=3),
            now=now,
        ).id,
        "once": create_coupon(
            session, CouponCreate(id="three_off", amount_off=300, currency="eur", duration="once"), now=now
        ).id,
        "forever": create_coupon(
            session, CouponCreate(id="half_off", percent_off=50, duration="forever"), now=now
        ).id,
    }
    return Catalog(prices, coupons)


CARDS = ("pm_card_visa", "pm_card_mastercard")
FAILING = ("pm_card_chargeDeclined", "pm_card_chargeCustomerFail")
PLAIN_PRICES = ("eur_month", "usd_month", "jpy_month", "kwd_month", "eur_month")


class Seeder:
    """Makes the book through the services, deterministically (ids from a seeded generator)."""

    def __init__(self, runtime: Runtime, clock: FrozenClock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.context = BillingContext.of(runtime)
        self.rng = random.Random(1216)
        self.count = 0
        # Customers whose default card is swapped, before the seeding run, for one that fails.
        self.failing: dict[str, str] = {}

    @contextmanager
    def at(self, moment: int) -> Iterator[Session]:
        self.clock.set(moment)
        with self.runtime.sessionmaker() as session:
            yield session
            session.commit()

    def customer(self, session: Session, card: str | None = "pm_card_visa", **extra: Any) -> str:
        self.count += 1
        params: dict[str, Any] = {
            "email": f"c{self.count}@example.com",
            "invoice_prefix": f"B{self.count:05d}",
            **extra,
        }
        if card is not None:
            params |= {"payment_method": card, "invoice_settings": {"default_payment_method": card}}
        return create_customer(
            session,
            CustomerCreate.model_validate(params),
            real_now=self.clock.now(),
            processor=self.context.processor,
        ).id

    def paying(self, session: Session, **extra: Any) -> str:
        """A customer with a working card, which one time in four starts failing on Jan 10."""
        customer = self.customer(session, self.rng.choice(CARDS), **extra)
        if self.rng.random() < 0.25:
            self.failing[customer] = self.rng.choice(FAILING)
        return customer

    def subscribe(self, session: Session, customer: str, *prices: str, **extra: Any) -> str:
        items = [ItemParams(price=price, quantity=self.rng.choice((1, 1, 2, 3))) for price in prices]
        return subscriptions.create_subscription(
            session,
            SubscriptionCreate(customer=customer, items=items, **extra),
            real_now=self.clock.now(),
            context=self.context,
        ).id

    def swap_failing_cards(self, session: Session) -> None:
        for customer, token in self.failing.items():
            method = attach_payment_method(
                session,
                token,
                customer_id=customer,
                processor=self.context.processor,
                real_now=self.clock.now(),
            )
            update_customer(
                session,
                customer,
                CustomerUpdate(invoice_settings=InvoiceSettingsParams(default_payment_method=method.id)),
                real_now=self.clock.now(),
            )

    def seed(self) -> None:
        later: dict[str, list[str]] = defaultdict(list)
        with self.at(ts(2024, 1, 15)) as session:
            catalog = _catalog(session, self.clock.now())
        prices = catalog.prices
        # Yearly subscriptions renewing on Feb 1-2, quarterly ones on Feb 1.
        for index in range(24):
            with self.at(ts(2024, 2, 1) + index * 3_600) as session:
                price = prices["eur_year" if index % 2 else "usd_year"]
                self.subscribe(session, self.paying(session), price)
        for index in range(8):
            with self.at(ts(2024, 11, 1) + index * 600) as session:
                self.subscribe(session, self.paying(session), prices["gbp_quarter"])
        # Renewing 5 days late in the run: when the charge fails, its first retry (3 days after)
        # is due at once; the per-subscription path carries on after the batch.
        for index in range(6):
            with self.at(ts(2024, 12, 29) + index * 600) as session:
                customer = self.paying(session)
                if index % 2 == 0:
                    self.failing[customer] = FAILING[index // 2 % 2]
                self.subscribe(session, customer, prices["eur_month"])
        # Past due in the seeding run (their card declines from Jan 10): retries due in the run.
        for index in range(6):
            with self.at(ts(2024, 12, 18) + index * 600) as session:
                customer = self.customer(session)
                self.subscribe(session, customer, prices["eur_month"])
                self.failing[customer] = "pm_card_chargeDeclined"
        # The bulk of the book, Jan 1-2.
        for index in range(200):
            moment = ts(2025, 1, 1) + index * 811
            with self.at(moment) as session:
                self._january(session, index, catalog, later)
        with self.at(ts(2025, 1, 10)) as session:
            self.swap_failing_cards(session)
        # The seeding run (the per-subscription path), then changes made before the run.
        self.clock.set(SEED_RUN_AT)
        run_billing(self.runtime, set_based=False)
        now = SEED_RUN_AT + 3_600
        with self.at(now) as session:
            for subscription in later["pause"]:
                subscriptions.update(
                    session,
                    subscription,
                    SubscriptionUpdate.model_validate({"pause_collection": {"behavior": "void"}}),
                    real_now=now,
                    context=self.context,
                )
            for subscription in later["prorate"]:
                item = session.scalar(
                    select(SubscriptionItem.id).where(SubscriptionItem.subscription_id == subscription)
                )
                subscriptions.update(
                    session,
                    subscription,
                    SubscriptionUpdate(items=[ItemParams(id=item, quantity=5)]),
                    real_now=now,
                    context=self.context,
                )
            for method in later["detach"]:
                detach_payment_method(session, method, real_now=now)
        # Incomplete (first charge declined) a day before the run: it expires in the run.
        for index in range(3):
            with self.at(ts(2025, 2, 2) + index * 600) as session:
                self.subscribe(session, self.customer(session, "pm_card_chargeDeclined"), prices["usd_month"])

    def _january(self, session: Session, index: int, catalog: Catalog, later: dict[str, list[str]]) -> None:
        prices, coupons = catalog.prices, catalog.coupons
        case = index % 20
        if case in (0, 1, 2, 3, 4, 5, 6, 7):
            price = prices[PLAIN_PRICES[index % len(PLAIN_PRICES)]]
            self.subscribe(session, self.paying(session), price)
        elif case == 8:
            self.subscribe(
                session,
                self.paying(session),
                prices["eur_month"],
                prices["eur_seats"],
            )
        elif case == 9:
            # Two plain subscriptions of one customer: invoice numbers in the batch's order.
            customer = self.paying(session, balance=-700 if index % 40 == 9 else None)
            self.subscribe(session, customer, prices["eur_month"])
            self.subscribe(session, customer, prices["eur_seats"])
        elif case == 10:
            # Credit on the balance: part of the invoice, or all of it (nothing to charge).
            balance = -900 if index % 40 == 10 else -1_000_000
            self.subscribe(session, self.customer(session, balance=balance), prices["eur_month"])
        elif case == 11:
            self.subscribe(session, self.paying(session), prices["eur_free"])
        elif case == 12:
            coupon = coupons[("repeating", "once", "forever")[index // 20 % 3]]
            self.subscribe(session, self.customer(session), prices["eur_month"], coupon=coupon)
        elif case == 13:
            # One plain subscription, one with a discount: the customer's go the general path.
            customer = self.customer(session)
            self.subscribe(session, customer, prices["eur_month"])
            self.subscribe(session, customer, prices["eur_month"], coupon=coupons["forever"])
        elif case == 14:
            # Ends in the seeding run; ends in the run (notice sent before); notice and end in the run.
            trial = (14, 21, 31)[index // 20 % 3]
            self.subscribe(session, self.customer(session), prices["eur_month"], trial_period_days=trial)
        elif case == 15:
            extra = {"cancel_at_period_end": True} if index % 40 == 15 else {"cancel_at": ts(2025, 2, 2, 12)}
            self.subscribe(session, self.customer(session), prices["usd_month"], **extra)
        elif case == 16:
            later["pause"].append(self.subscribe(session, self.customer(session), prices["eur_month"]))
        elif case == 17:
            later["prorate"].append(self.subscribe(session, self.customer(session), prices["eur_month"]))
        elif case == 18:
            self.subscribe(session, self.customer(session), prices["eur_week"])
        else:
            # The subscription's own payment method: a card that fails, or (detached later) none.
            customer = self.customer(session, None)
            token = "pm_card_chargeCustomerFail" if index % 40 == 19 else "pm_card_visa"
            method = attach_payment_method(
                session,
                token,
                customer_id=customer,
                processor=self.context.processor,
                real_now=self.clock.now(),
            ).id
            if token == "pm_card_visa":
                later["detach"].append(method)
            self.subscribe(session, customer, prices["jpy_month"], default_payment_method=method)


# ---------------------------------------------------------------------------------------------
# Stores, and what is compared


def _fresh_store(url: str, sqlite_template: Path | None) -> None:
    """Empty the store: a new copy of the migrated SQLite file, or PostgreSQL's tables truncated
    with their sequences restarted (so surrogate keys restart too)."""
    if url.startswith("sqlite"):
        assert sqlite_template is not None
        shutil.copyfile(sqlite_template, url.split(":///", 1)[1])
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        existing = set(inspect(connection).get_table_names())
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name in existing)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


Row = tuple[tuple[str, Any], ...]


@dataclass
class Outcome:
    tables: dict[str, list[Row]]
    events_per_object: dict[str, list[str]]
    charges: list[tuple[str, int, str, str]]
    routes: Counter[GeneralPath | None]
    # Invoices the run made and charged more than once (a retry right after a late renewal).
    retried: int


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, keyed by column; JSON columns also say whether they are SQL NULL."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        existing = set(inspect(connection).get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name not in existing:
                continue
            columns: list[Any] = list(table.c)
            columns += [c.is_(None).label(f"{c.name} is null") for c in table.c if isinstance(c.type, JSON)]
            order = table.c.pk if "pk" in table.c else next(iter(table.primary_key))
            out[table.name] = [
                dict(row._mapping) for row in connection.execute(select(*columns).order_by(order))
            ]
    return out


def _normalize(rows: dict[str, list[dict[str, Any]]], before: Mapping[str, int]) -> dict[str, str]:
    """Labels for the ids the run created (those differ between stores), from what the rows hold."""
    labels: dict[str, str] = {}
    new = {name: [r for r in table if r.get("pk", 0) > before.get(name, 0)] for name, table in rows.items()}
    for invoice in new.get("invoices", []):
        labels[invoice["id"]] = f"invoice {invoice['number']}"
    for line in new.get("invoice_lines", []):
        labels[line["id"]] = (
            f"line {labels.get(line['invoice_id'], line['invoice_id'])} {line['subscription_item_id']} "
            f"{line['period_start']} {line['amount']}"
        )
    seen: Counter[tuple[str, str]] = Counter()
    for row in new.get("events", []):
        subject = labels.get(row["object_id"], row["object_id"])
        seen[(row["type"], subject)] += 1
        labels[row["id"]] = f"event {row['type']} {subject} #{seen[(row['type'], subject)]}"
    return labels


_ID = re.compile(r"\b[a-z]+_[A-Za-z0-9]{24}\b")


def _relabel(value: Any, labels: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        # Ids stand alone or inside other strings (`/v1/invoices/in_…/lines`).
        return _ID.sub(lambda found: labels.get(found.group(), found.group()), value)
    if isinstance(value, dict):
        return {k: _relabel(v, labels) for k, v in value.items()}
    if isinstance(value, list):
        return [_relabel(v, labels) for v in value]
    return value


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def run_store(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_template: Path | None,
    *,
    set_based: bool,
) -> Outcome:
    """Seed the book into a fresh store, run the billing run, and read back every row."""
    _fresh_store(settings.effective_database_url, sqlite_template)
    token_source = random.Random(20250203)
    monkeypatch.setattr(secrets, "choice", token_source.choice)
    monkeypatch.setattr(secrets, "token_bytes", token_source.randbytes)
    clock = FrozenClock(ts(2024, 1, 15))
    recorder = _one_processor(monkeypatch, clock, RecordingProcessor)
    runtime = Runtime.build(settings, clock=clock)
    try:
        Seeder(runtime, clock).seed()
        clock.set(RUN_AT)
        before = {
            name: max((r["pk"] for r in table if "pk" in r), default=0)
            for name, table in _rows(runtime.engine).items()
        }
        with runtime.sessionmaker() as session:
            batch = claim(session, now=RUN_AT, limit=10_000)
            plain, general = classify(batch, read_book(session, batch), now=RUN_AT)
            session.rollback()
        routes: Counter[GeneralPath | None] = Counter(general.values())
        routes[None] = len(plain)
        recorder[0].charges.clear()
        run_billing(runtime, set_based=set_based)
        rows = _rows(runtime.engine)
    finally:
        runtime.close()
    labels = _normalize(rows, before)
    tables: dict[str, list[Row]] = {}
    events_per_object: dict[str, list[str]] = defaultdict(list)
    for name, table in rows.items():
        normalized = []
        for row in table:
            if name == "events" and row["pk"] > before.get("events", 0):
                events_per_object[_relabel(row["object_id"], labels)].append(row["type"])
            kept = {
                k: _relabel(v, labels)
                for k, v in row.items()
                if k != "pk" and not (name == "events" and k == "tx")
            }
            normalized.append(tuple(sorted((k, _frozen(v)) for k, v in kept.items())))
        tables[name] = sorted(normalized, key=repr)
    charges = sorted(
        (method, amount, currency, ":".join(_relabel(part, labels) for part in key.split(":")))
        for method, amount, currency, key in recorder[0].charges
    )
    retried = sum(
        1 for row in rows["invoices"] if row["pk"] > before["invoices"] and row["attempt_count"] > 1
    )
    return Outcome(tables, dict(events_per_object), charges, routes, retried)


def _differences(mine: Any, theirs: Any, path: str = "") -> list[str]:
    """Where two normalized rows differ (paths into them), to say what went wrong."""
    if isinstance(mine, tuple) and isinstance(theirs, tuple):
        if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in (*mine, *theirs)):
            left, right = dict(mine), dict(theirs)
            return [
                found
                for key in sorted(left.keys() | right.keys())
                for found in _differences(left.get(key), right.get(key), f"{path}.{key}")
            ]
        if len(mine) == len(theirs):
            return [
                found
                for i, pair in enumerate(zip(mine, theirs, strict=True))
                for found in _differences(*pair, f"{path}[{i}]")
            ]
    return [] if mine == theirs else [f"{path}: {mine!r} != {theirs!r}"]


@pytest.mark.timeout(900)
def test_batch_and_per_subscription_paths_write_the_same_rows(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    template: Path | None = (
        request.getfixturevalue("sqlite_template")
        if settings.effective_database_url.startswith("sqlite")
        else None
    )
    batch = run_store(settings, monkeypatch, template, set_based=True)
    reference = run_store(settings, monkeypatch, template, set_based=False)

    # The book exercises both paths, and every reason for the general one.
    assert batch.routes == reference.routes
    assert batch.routes[None] >= 100
    # (Test clocks are never claimed; a missing price or a period past 9999 cannot be made through
    # the services.)
    unreachable = {GeneralPath.TEST_CLOCK, GeneralPath.PRICE, GeneralPath.PERIOD_OUT_OF_RANGE}
    assert set(batch.routes) == {None, *GeneralPath} - unreachable, batch.routes
    assert len(batch.charges) >= 100
    assert batch.retried >= 3
    assert {"invoice.payment_failed", "invoice.payment_succeeded"} <= {
        t for types in batch.events_per_object.values() for t in types
    }

    assert batch.charges == reference.charges
    assert batch.events_per_object == reference.events_per_object
    assert batch.tables.keys() == reference.tables.keys()
    for name in batch.tables:
        assert len(batch.tables[name]) == len(reference.tables[name]), name
        for mine, theirs in zip(batch.tables[name], reference.tables[name], strict=True):
            assert mine == theirs, (name, _differences(mine, theirs))


# ---------------------------------------------------------------------------------------------
# Statements


def _billing_run_statements(runtime: Runtime, *, set_based: bool = True) -> tuple[list[str], int]:
    """(statements, steps) of one billing run, statements seen at the cursor."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        steps = run_billing(runtime, set_based=set_based)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    return statements, steps


def _plain_book(settings: Settings, size: int) -> Runtime:
    """`size` plain renewals due: in five kinds (a card that pays, in EUR or USD; a free price; a
    card that fails; credit covering the invoice), so that every batch holds each kind."""
    clock = FrozenClock(ts(2025, 1, 1))
    runtime = Runtime.build(settings, clock=clock)
    seeder = Seeder(runtime, clock)
    with seeder.at(ts(2025, 1, 1)) as session:
        prices = _catalog(session, clock.now()).prices
    for index in range(size):
        kind = index % 5
        with seeder.at(ts(2025, 1, 1) + index) as session:
            customer = seeder.customer(session, CARDS[index % 2], balance=-1_000_000 if kind == 4 else None)
            price = prices[("eur_month", "usd_month", "eur_free", "jpy_month", "eur_month")[kind]]
            seeder.subscribe(session, customer, price)
            if kind == 3:
                seeder.failing[customer] = FAILING[index % 2]
    with seeder.at(ts(2025, 1, 10)) as session:
        seeder.swap_failing_cards(session)
    clock.set(ts(2025, 2, 1, 1))
    return runtime


# Statements of a whole billing run over one due subscription on the per-subscription path, as
# measured before the set-based path existed (claim, customers, the renewal, the empty claim).
GENERAL_RENEWAL_BUDGET = {"sqlite": 33, "postgresql": 29}


def test_a_batch_of_plain_renewals_costs_a_constant_number_of_statements(
    settings: Settings, request: pytest.FixtureRequest
) -> None:
    """However many plain renewals a batch holds (up to `renew.BATCH`), the same statements."""
    counts = []
    for size in (5, 60):
        if counts:
            _fresh_store(
                settings.effective_database_url,
                request.getfixturevalue("sqlite_template")
                if settings.effective_database_url.startswith("sqlite")
                else None,
            )
        runtime = _plain_book(settings, size)
        try:
            statements, renewed = _billing_run_statements(runtime)
            assert renewed == size
            counts.append(len(statements))
        finally:
            runtime.close()
    small, large = counts
    assert small == large, [" ".join(s.split())[:90] for s in statements]
    # Claim, customers, items, prices, discounts, pending items, products, payment methods; the
    # invoices, lines, events, periods and customers written; the empty claim that ends the run
    # (and SQLite's BEGIN IMMEDIATE for both transactions).
    assert large <= (16 if runtime.engine.dialect.name == "sqlite" else 14), counts


def test_a_renewal_on_the_per_subscription_path_stays_within_its_budget(settings: Settings) -> None:
    runtime = _plain_book(settings, 1)
    try:
        statements, renewed = _billing_run_statements(runtime, set_based=False)
        assert renewed == 1
        assert len(statements) <= GENERAL_RENEWAL_BUDGET[runtime.engine.dialect.name], statements
    finally:
        runtime.close()


# ---------------------------------------------------------------------------------------------
# The claim


def _claim_statement(runtime: Runtime, now: int) -> tuple[str, Any]:
    """The SQL and parameters of `claim`, as sent to the driver."""
    sent: list[tuple[str, Any]] = []

    def grab(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(runtime.engine, "before_cursor_execute", grab)
    try:
        with runtime.sessionmaker() as session:
            claim(session, now=now, limit=200)
            session.rollback()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", grab)
    return next((sql, params) for sql, params in sent if "FROM subscriptions" in sql)


def test_the_claim_reads_a_batch_off_its_index_and_locks_the_rows_it_returns(settings: Settings) -> None:
    """A renewal date makes most of the book due at one moment: the claim must not sort the due set
    for each batch of 200 (`ix_subscriptions_claim` has it in claim order). On PostgreSQL the rows
    are locked by the statement that returns them, so a change committed while it ran is read, not
    the row as it was when the statement began (as an outer query over locked keys would)."""
    runtime = _plain_book(settings, 3)
    try:
        sql, params = _claim_statement(runtime, runtime.clock.now())
        with runtime.engine.connect() as connection:
            if runtime.engine.dialect.name == "sqlite":
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                plan = "\n".join(str(row[-1]) for row in rows)
                assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
                return
            assert sql.count("FROM subscriptions") == 1, sql
            assert sql.rstrip().endswith("FOR UPDATE SKIP LOCKED"), sql
            # On a table this small a scan and a sort cost next to nothing: ask for a plan
            # without them, which only an index in claim order gives.
            for method in ("seqscan", "bitmapscan", "sort", "incremental_sort"):
                connection.exec_driver_sql(f"SET LOCAL enable_{method} = off")

            def plan() -> str:
                return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}", params))

            assert "ix_subscriptions_claim" in plan() and "Sort" not in plan(), plan()
            # Without it, the due set is sorted (the control: the settings above leave no choice).
            connection.exec_driver_sql("DROP INDEX ix_subscriptions_claim")
            assert "Sort" in plan(), plan()
            connection.rollback()
    finally:
        runtime.close()


# ---------------------------------------------------------------------------------------------
# Crashes, processor errors, the outbox


class FlakyProcessor(RecordingProcessor):
    """A processor that, once armed, charges the `fail_at`-th card and then times out before
    answering: the money moved, the billing run never learns it. `moved` is the charges that moved
    money, one per idempotency key (a retried key gives the same charge, as with Stripe)."""

    def __init__(self, inner: TestProcessor) -> None:
        super().__init__(inner)
        self.fail_at: int | None = None
        self.moved: dict[str, ChargeResult] = {}

    def charge(
        self, payment_method: PaymentMethod, *, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        result = super().charge(
            payment_method, amount=amount, currency=currency, idempotency_key=idempotency_key
        )
        self.moved.setdefault(idempotency_key, result)
        if self.fail_at is not None and len(self.charges) == self.fail_at:
            raise TimeoutError("the processor did not answer in time")
        return result


@pytest.mark.parametrize("set_based", [True, False], ids=["batch", "per-subscription"])
def test_a_run_that_fails_after_charging_charges_once_when_done_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, set_based: bool
) -> None:
    """A batch is one transaction: a processor timeout (or a crash) after some charges rolls the
    batch back, invoices included, and the next run makes new invoices. Their charges reuse the
    keys of the first attempt (subscription, period, attempt), so nothing is charged twice and
    every renewal still happens, once."""
    clock = FrozenClock(ts(2025, 1, 1))
    processors = _one_processor(monkeypatch, clock, FlakyProcessor)
    size = 12
    runtime = _plain_book(settings, size)
    try:
        processor = processors[0]
        seeded = set(processor.moved)
        processor.charges.clear()
        processor.fail_at = 4
        with pytest.raises(TimeoutError):
            run_billing(runtime, set_based=set_based)
        first = [key for _method, _amount, _currency, key in processor.charges]
        assert len(first) == 4
        with runtime.sessionmaker() as session:
            assert not session.scalar(
                select(func.count())
                .select_from(Invoice)
                .where(Invoice.billing_reason == "subscription_cycle")
            )
        processor.fail_at = None
        processor.charges.clear()
        assert run_billing(runtime, set_based=set_based) == size
        second = [key for _method, _amount, _currency, key in processor.charges]
        assert second[:4] == first
        with runtime.sessionmaker() as session:
            renewals = session.scalars(
                select(Invoice).where(Invoice.billing_reason == "subscription_cycle")
            ).all()
            assert len({invoice.subscription_id for invoice in renewals}) == len(renewals) == size
            attempts = sum(invoice.attempt_count for invoice in renewals)
        # Every charge that moved money during the runs is an attempt of a committed invoice.
        assert len(set(processor.moved) - seeded) == attempts == len(second)
    finally:
        runtime.close()


def test_batch_renewals_wake_the_consumers_and_reach_them(settings: Settings) -> None:
    """The batch writes its events like `record_event` does: flagged for the embedded worker to
    wake at commit, with their writing transaction (`tx`, on PostgreSQL), so that consumers read
    them: each gets its webhook delivery and `pending_webhooks`."""
    runtime = _plain_book(settings, 5)
    flagged: list[bool] = []

    def after_commit(session: Session) -> None:
        flagged.append(bool(session.info.get(EVENTS_RECORDED)))

    try:
        _endpoint_for_every_event(runtime)
        with runtime.sessionmaker() as session:
            before = session.scalar(select(func.max(Event.pk))) or 0
        drain(runtime)
        event.listen(runtime.sessionmaker, "after_commit", after_commit)
        try:
            assert run_billing(runtime) == 5
        finally:
            event.remove(runtime.sessionmaker, "after_commit", after_commit)
        assert flagged and flagged[0], flagged
        drain(runtime)
        with runtime.sessionmaker() as session:
            made = session.scalars(select(Event).where(Event.pk > before)).all()
            # created, finalized, paid and payment_succeeded (or payment_failed), updated
            assert Counter(e.type for e in made)["customer.subscription.updated"] == 5
            assert len(made) == 5 * 5 - 1  # one of the five cards fails
            if runtime.engine.dialect.name == "postgresql":
                assert all(e.tx is not None for e in made)
            assert all(e.pending_webhooks == 1 for e in made), [(e.type, e.pending_webhooks) for e in made]
            delivered = set(session.scalars(select(WebhookDelivery.event_id)))
            assert {e.id for e in made} <= delivered
    finally:
        runtime.close()


def test_the_worker_renews_plain_renewals_set_based(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's periodic billing run takes the set-based path for plain renewals."""
    features.load()
    batched: list[int] = []
    original = renew_batch.renew

    def spy(session: Session, renewals: Any, *args: Any, **kwargs: Any) -> list[int]:
        batched.append(len(renewals))
        return original(session, renewals, *args, **kwargs)

    monkeypatch.setattr(renew_batch, "renew", spy)
    runtime = _plain_book(settings, 4)
    try:
        run_once(runtime)
        assert sum(batched) == 4
    finally:
        runtime.close()
