"""Dunning on a test clock: retries 3, 7 and 14 days after the first failure, then the final action."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tests.subscriptions.conftest import ok
from tests.subscriptions.test_thirteen_months import Book, ts

DAY = 86_400


def failing_book(client: TestClient) -> tuple[Book, str, str, dict[str, Any]]:
    book = Book(client)
    customer = book.customer("Fay")
    subscription = book.subscribe(customer, book.monthly)["id"]
    book.advance(ts(2025, 1, 20))
    book.set_default_card(customer, "pm_card_chargeCustomerFail")
    book.advance(ts(2025, 2, 1, 1))
    invoice = book.invoices(subscription)[-1]
    return book, customer, subscription, invoice


def test_retries_then_cancels_for_payment_failed(client: TestClient) -> None:
    book, _customer, subscription, invoice = failing_book(client)
    assert book.subscription(subscription)["status"] == "past_due"
    assert (invoice["attempt_count"], invoice["next_payment_attempt"]) == (1, ts(2025, 2, 4))
    book.advance(ts(2025, 2, 4, 1))
    assert book.invoices(subscription)[-1]["next_payment_attempt"] == ts(2025, 2, 8)
    book.advance(ts(2025, 2, 8, 1))
    assert book.invoices(subscription)[-1]["next_payment_attempt"] == ts(2025, 2, 15)
    book.advance(ts(2025, 2, 15, 1))
    ended = book.subscription(subscription)
    assert ended["status"] == "canceled"
    assert ended["cancellation_details"]["reason"] == "payment_failed"
    assert ended["ended_at"] == ts(2025, 2, 15)
    last = book.invoices(subscription)[-1]
    assert (last["status"], last["attempt_count"], last["next_payment_attempt"]) == ("open", 4, None)
    failures = ok(client.get("/v1/events", params={"type": "invoice.payment_failed"}))["data"]
    assert len(failures) == 4


def test_final_action_unpaid(client: TestClient, runtime: Runtime) -> None:
    runtime.settings.dunning_final_action = "unpaid"
    book, _customer, subscription, _invoice = failing_book(client)
    book.advance(ts(2025, 2, 16))
    assert book.subscription(subscription)["status"] == "unpaid"


def test_canceling_a_past_due_subscription_stops_retries(client: TestClient) -> None:
    book, _customer, subscription, invoice = failing_book(client)
    ok(client.request("DELETE", f"/v1/subscriptions/{subscription}"))
    assert ok(client.get(f"/v1/invoices/{invoice['id']}"))["next_payment_attempt"] is None
    book.advance(ts(2025, 2, 20))
    assert ok(client.get(f"/v1/invoices/{invoice['id']}"))["attempt_count"] == 1


@pytest.mark.parametrize("owing", [True, False])
def test_detaching_the_default_method_of_a_past_due_customer_is_refused(
    client: TestClient, owing: bool
) -> None:
    if owing:
        _book, customer, _subscription, _invoice = failing_book(client)
    else:
        book = Book(client)
        customer = book.customer("Gus")
        book.subscribe(customer, book.monthly)
    default = ok(client.get(f"/v1/customers/{customer}"))["invoice_settings"]["default_payment_method"]
    detached = client.post(f"/v1/payment_methods/{default}/detach")
    if owing:
        assert detached.status_code == 400
        assert detached.json()["error"]["code"] == "payment_method_in_use"
        assert ok(client.get(f"/v1/payment_methods/{default}"))["customer"] == customer
    else:
        assert detached.status_code == 200
