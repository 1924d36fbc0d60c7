"""Acceptance: a test clock runs a small book for 13 months; the invoices equal a hand-computed table.

Book (all EUR, clock starting 2025-01-01 00:00 UTC):
  S1  customer A, monthly 20.00 with a 25 % coupon repeating 3 months
  S5  customer A, monthly 20.00, canceled on Jan 11 with proration: 21 of 31 days unused
      -> credit round(2000 * 21 / 31) = 1355 to A's balance, used by S1's Feb invoice (1500 - 1355 = 145)
  S3  customer B, monthly 20.00; B's card is swapped for one that fails before Feb 1; the Feb 1
      charge fails (past_due, retry scheduled Feb 4); on Feb 3 B sets a working card: paid on retry
  S2  customer C, yearly 200.00 with a 14-day trial: 0.00 on Jan 1, 200.00 on Jan 15 (both years)
  S4  customer D, monthly 20.00, told on Mar 10 to cancel at period end (too_expensive): ends Apr 1
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def month_starts(first: tuple[int, int], count: int) -> list[int]:
    year, month = first
    out = []
    for _ in range(count):
        out.append(ts(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class Book:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.clock = ok(client.post("/v1/test_helpers/test_clocks", data={"frozen_time": ts(2025, 1, 1)}))[
            "id"
        ]
        product = ok(client.post("/v1/products", data={"name": "Pro"}))["id"]
        self.monthly = ok(
            client.post(
                "/v1/prices",
                data={
                    "product": product,
                    "currency": "eur",
                    "unit_amount": 2000,
                    "recurring[interval]": "month",
                },
            )
        )["id"]
        self.yearly = ok(
            client.post(
                "/v1/prices",
                data={
                    "product": product,
                    "currency": "eur",
                    "unit_amount": 20000,
                    "recurring[interval]": "year",
                },
            )
        )["id"]
        self.coupon = ok(
            client.post(
                "/v1/coupons", data={"percent_off": 25, "duration": "repeating", "duration_in_months": 3}
            )
        )["id"]

    def customer(self, name: str) -> str:
        return ok(
            self.client.post(
                "/v1/customers",
                data={
                    "name": name,
                    "email": f"{name.lower()}@example.com",
                    "test_clock": self.clock,
                    "payment_method": "pm_card_visa",
                    "invoice_settings[default_payment_method]": "pm_card_visa",
                },
            )
        )["id"]

    def set_default_card(self, customer: str, token: str) -> None:
        method = ok(self.client.post(f"/v1/payment_methods/{token}/attach", data={"customer": customer}))[
            "id"
        ]
        ok(
            self.client.post(
                f"/v1/customers/{customer}", data={"invoice_settings[default_payment_method]": method}
            )
        )

    def subscribe(self, customer: str, price: str, **extra: Any) -> dict[str, Any]:
        return ok(
            self.client.post(
                "/v1/subscriptions", data={"customer": customer, "items[0][price]": price, **extra}
            )
        )

    def advance(self, moment: int) -> None:
        clock = ok(
            self.client.post(
                f"/v1/test_helpers/test_clocks/{self.clock}/advance", data={"frozen_time": moment}
            )
        )
        assert clock["status"] == "ready"

    def invoices(self, subscription: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"subscription": subscription, "limit": 100}
        while True:
            page = ok(self.client.get("/v1/invoices", params=params))
            found += page["data"]
            if not page["has_more"]:
                return sorted(found, key=lambda i: (i["created"], i["number"]))
            params["starting_after"] = page["data"][-1]["id"]

    def subscription(self, subscription: str) -> dict[str, Any]:
        return ok(self.client.get(f"/v1/subscriptions/{subscription}"))


def rows(invoices: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            i["created"],
            i["billing_reason"],
            i["subtotal"],
            i["total"],
            i["amount_due"],
            i["amount_paid"],
            i["status"],
            i["attempt_count"],
        )
        for i in invoices
    ]


def test_thirteen_months_of_billing(client: TestClient) -> None:
    book = Book(client)
    a, b, c, d = (book.customer(n) for n in ("Ada", "Bea", "Cem", "Dov"))
    s1 = book.subscribe(a, book.monthly, coupon=book.coupon)["id"]
    s5 = book.subscribe(a, book.monthly)["id"]
    s3 = book.subscribe(b, book.monthly)["id"]
    s2 = book.subscribe(c, book.yearly, trial_period_days=14)
    assert s2["status"] == "trialing"
    s4 = book.subscribe(d, book.monthly)["id"]

    book.advance(ts(2025, 1, 11))
    canceled = ok(client.request("DELETE", f"/v1/subscriptions/{s5}", params={"prorate": "true"}))
    assert (canceled["status"], canceled["ended_at"]) == ("canceled", ts(2025, 1, 11))
    assert ok(client.get(f"/v1/customers/{a}"))["balance"] == -1355

    book.advance(ts(2025, 1, 20))
    book.set_default_card(b, "pm_card_chargeCustomerFail")
    book.advance(ts(2025, 2, 3))
    assert book.subscription(s3)["status"] == "past_due"
    failed = book.invoices(s3)[-1]
    assert (failed["attempt_count"], failed["next_payment_attempt"]) == (1, ts(2025, 2, 4))
    book.set_default_card(b, "pm_card_visa")
    book.advance(ts(2025, 2, 3, 1))
    assert book.subscription(s3)["status"] == "active"

    book.advance(ts(2025, 3, 10))
    scheduled = ok(
        client.post(
            f"/v1/subscriptions/{s4}",
            data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "too_expensive"},
        )
    )
    assert scheduled["cancellation_details"] == {
        "comment": None,
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }

    book.advance(ts(2026, 2, 1))

    monthly_dates = month_starts((2025, 1), 14)  # 2025-01-01 … 2026-02-01
    s1_expected = [
        (monthly_dates[0], "subscription_create", 2000, 1500, 1500, 1500, "paid", 1),
        (monthly_dates[1], "subscription_cycle", 2000, 1500, 145, 145, "paid", 1),
        (monthly_dates[2], "subscription_cycle", 2000, 1500, 1500, 1500, "paid", 1),
    ]
    s1_expected += [(t, "subscription_cycle", 2000, 2000, 2000, 2000, "paid", 1) for t in monthly_dates[3:]]
    assert rows(book.invoices(s1)) == s1_expected
    assert book.invoices(s1)[1]["starting_balance"] == -1355
    assert book.invoices(s1)[1]["ending_balance"] == 0

    assert rows(book.invoices(s5)) == [
        (ts(2025, 1, 1), "subscription_create", 2000, 2000, 2000, 2000, "paid", 1),
        (ts(2025, 1, 11), "subscription_cancel", -1355, -1355, 0, 0, "paid", 0),
    ]

    s3_expected = [
        (monthly_dates[0], "subscription_create", 2000, 2000, 2000, 2000, "paid", 1),
        (monthly_dates[1], "subscription_cycle", 2000, 2000, 2000, 2000, "paid", 2),
    ]
    s3_expected += [(t, "subscription_cycle", 2000, 2000, 2000, 2000, "paid", 1) for t in monthly_dates[2:]]
    assert rows(book.invoices(s3)) == s3_expected

    assert rows(book.invoices(s2["id"])) == [
        (ts(2025, 1, 1), "subscription_create", 0, 0, 0, 0, "paid", 0),
        (ts(2025, 1, 15), "subscription_cycle", 20000, 20000, 20000, 20000, "paid", 1),
        (ts(2026, 1, 15), "subscription_cycle", 20000, 20000, 20000, 20000, "paid", 1),
    ]
    assert book.subscription(s2["id"])["status"] == "active"

    assert rows(book.invoices(s4)) == [
        (t, reason, 2000, 2000, 2000, 2000, "paid", 1)
        for t, reason in zip(
            monthly_dates[:3],
            ["subscription_create", "subscription_cycle", "subscription_cycle"],
            strict=True,
        )
    ]
    ended = book.subscription(s4)
    assert (ended["status"], ended["canceled_at"], ended["ended_at"]) == (
        "canceled",
        ts(2025, 3, 10),
        ts(2025, 4, 1),
    )
    assert ended["cancellation_details"]["feedback"] == "too_expensive"

    s1_now = book.subscription(s1)
    item = s1_now["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (ts(2026, 2, 1), ts(2026, 3, 1))
    assert s1_now["status"] == "active"

    trial_notices = ok(client.get("/v1/events", params={"type": "customer.subscription.trial_will_end"}))[
        "data"
    ]
    assert [e["created"] for e in trial_notices] == [ts(2025, 1, 12)]
