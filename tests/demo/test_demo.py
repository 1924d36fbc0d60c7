"""`tenure demo`: a small demo business, seeded on each database, checked through the store and the API."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.customers.schemas import normalize_locale
from tenure.demo import DEMO_KEY_NAME, seed_demo
from tenure.demo.lives import DAY, plan_lives
from tenure.demo.names import People, ascii_fold
from tenure.invoices.models import Invoice
from tenure.keys.models import ApiKey
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.runtime import Runtime
from tenure.subscriptions import renew_batch
from tenure.subscriptions.models import Feedback, Subscription, SubscriptionStatus
from tenure.testclocks.models import TestClock

SIZE = 30
EVERY_STATUS = {
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.CANCELED,
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.INCOMPLETE_EXPIRED,
}


def _counts(runtime: Runtime) -> dict[str, int]:
    with runtime.sessionmaker() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Product, Price, Customer, Subscription, Invoice, TestClock)
        }


def _all(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 100, **params}
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["data"]
        if not page["has_more"]:
            return found
        query["starting_after"] = page["data"][-1]["id"]


def test_demo_seeds_a_year_of_a_business_once(
    runtime: Runtime, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The book's plain renewals go through the billing run's set-based path.
    batched: list[int] = []
    renew = renew_batch.renew

    def counting(session: Session, renewals: Sequence[renew_batch.Renewal], *args: Any, **kw: Any) -> Any:
        batched.append(len(renewals))
        return renew(session, renewals, *args, **kw)

    monkeypatch.setattr(renew_batch, "renew", counting)
    messages: list[str] = []
    now = runtime.clock.now()
    secret = seed_demo(runtime, size=SIZE, progress=messages.append)
    assert any(message.startswith("Done in") for message in messages)
    assert sum(batched) > 0

    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
        prices = _all(client, "/v1/prices")
        assert len(prices) == 12
        assert {(p["currency"], p["recurring"]["interval"]) for p in prices} == {
            ("eur", "month"),
            ("eur", "year"),
            ("usd", "month"),
            ("usd", "year"),
        }
        assert all(p["lookup_key"] for p in prices)
        assert len(_all(client, "/v1/products")) == 3

        subscriptions = _all(client, "/v1/subscriptions", status="all")
        assert {s["status"] for s in subscriptions} == EVERY_STATUS
        canceled = [s["cancellation_details"] for s in subscriptions if s["status"] == "canceled"]
        reasons = {details["reason"] for details in canceled}
        assert reasons == {"cancellation_requested", "payment_failed"}
        feedback = {details["feedback"] for details in canceled} - {None}
        assert feedback and feedback <= {code.value for code in Feedback}
        assert any(details["comment"] for details in canceled)
        assert all(s["test_clock"] is None for s in subscriptions)
        assert len(_all(client, "/v1/customers")) == SIZE  # none hidden on a test clock

    with runtime.sessionmaker() as session:
        first, last = session.execute(select(func.min(Invoice.created), func.max(Invoice.created))).one()
        assert first <= now - 300 * DAY
        assert last >= now - 31 * DAY
        assert session.scalar(select(func.count()).where(Invoice.test_clock_id.is_not(None))) == 0
        assert session.scalar(select(func.count()).where(Customer.test_clock_id.is_not(None))) == 0
        clocks = list(session.scalars(select(TestClock)))
        assert [clock.name for clock in clocks] == ["Demo clock"]
        languages = {c.preferred_locales[0][:2] for c in session.scalars(select(Customer))}
        assert languages <= {"en", "fr", "de", "id"}

    seeded = _counts(runtime)
    again = seed_demo(runtime, size=SIZE)
    assert again != secret
    assert _counts(runtime) == seeded
    with runtime.sessionmaker() as session:
        live_keys = session.scalars(
            select(ApiKey.id).where(ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None))
        ).all()
        assert len(live_keys) == 1
    with TestClient(app) as client:
        old = client.get("/v1/subscriptions", headers={"Authorization": f"Bearer {secret}"})
        new = client.get("/v1/subscriptions", headers={"Authorization": f"Bearer {again}"})
        assert (old.status_code, new.status_code) == (401, 200)


def test_the_same_seed_plans_the_same_year() -> None:
    start, end = 1_735_689_600, 1_767_225_600
    first = plan_lives(random.Random(7), size=50, start=start, end=end)
    second = plan_lives(random.Random(7), size=50, start=start, end=end)
    assert first == second
    assert len(first) == 50
    assert all(start <= life.signup_at < end for life in first)


def test_people_have_distinct_emails_and_valid_locales_in_four_languages() -> None:
    people = People(random.Random(1))
    crowd = [people.person() for _ in range(400)]
    assert len({person.email for person in crowd}) == 400
    assert {person.language for person in crowd} == {"en", "fr", "de", "id"}
    for person in crowd:
        assert person.email.isascii() and person.email.split("@")[1].startswith("example.")
        assert [normalize_locale(tag) for tag in person.preferred_locales] == person.preferred_locales
        assert person.preferred_locales[0].startswith(person.language)
    assert ascii_fold("Jürgen Weiß") == "juergenweiss"
    assert ascii_fold("Élodie O'Brien") == "elodieobrien"
