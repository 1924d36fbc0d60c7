"""The hosted page over plain HTTP: completion, nothing half-created, once only, returning customers."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.checkout.conftest import Catalog, card_form, counts, create_session, csrf_of

from tenure.clock import FrozenClock
from tenure.runtime import Runtime

EMPTY = {"customers": 0, "payment_methods": 0, "subscriptions": 0, "invoices": 0}


def open_page(client: TestClient, session: dict[str, Any]) -> str:
    page = client.get(f"/checkout/{session['id']}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def errors_on(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', html))


def test_completion_creates_customer_method_and_subscription(client: TestClient, catalog: Catalog) -> None:
    session = create_session(
        client, catalog.monthly, customer_email="ada@example.com", **{"metadata[order]": "7"}
    )
    csrf = open_page(client, session)
    done = client.post(f"/checkout/{session['id']}", data=card_form(csrf), follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"https://shop.example/thanks?session={session['id']}"

    completed = client.get(f"/v1/checkout/sessions/{session['id']}?expand[]=subscription").json()
    assert (completed["status"], completed["payment_status"], completed["url"]) == ("complete", "paid", None)
    assert completed["customer_details"]["email"] == "ada@example.com"
    assert completed["customer_details"]["name"] == "Ada Lovelace"
    subscription = completed["subscription"]
    assert subscription["status"] == "active"
    assert subscription["customer"] == completed["customer"]
    assert completed["invoice"] == subscription["latest_invoice"]
    customer = client.get(f"/v1/customers/{completed['customer']}").json()
    method = client.get(f"/v1/payment_methods/{subscription['default_payment_method']}").json()
    assert (method["type"], method["card"]["last4"], method["customer"]) == ("card", "4242", customer["id"])
    assert method["billing_details"]["name"] == "Ada Lovelace"
    assert customer["invoice_settings"]["default_payment_method"] == method["id"]
    assert customer["preferred_locales"] == ["en"]
    invoice = client.get(f"/v1/invoices/{completed['invoice']}").json()
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", 2000)

    types = [e["type"] for e in reversed(client.get("/v1/events?limit=100").json()["data"])]
    assert types[-1] == "checkout.session.completed"
    for expected in (
        "customer.created",
        "payment_method.attached",
        "customer.subscription.created",
        "invoice.paid",
    ):
        assert expected in types
    assert types.index("customer.subscription.created") < types.index("checkout.session.completed")
    event = client.get("/v1/events?type=checkout.session.completed").json()["data"][0]
    assert event["data"]["object"]["subscription"] == subscription["id"]


def test_a_second_submit_completes_once(client: TestClient, catalog: Catalog) -> None:
    session = create_session(client, catalog.monthly)
    csrf = open_page(client, session)
    first = client.post(f"/checkout/{session['id']}", data=card_form(csrf), follow_redirects=False)
    second = client.post(f"/checkout/{session['id']}", data=card_form(csrf), follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert counts(client) == {"customers": 1, "payment_methods": 1, "subscriptions": 1, "invoices": 1}
    assert len(client.get("/v1/events?type=checkout.session.completed").json()["data"]) == 1
    # Opening the page again just goes on to the success URL.
    again = client.get(f"/checkout/{session['id']}", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, first.headers["location"])


def test_concurrent_submits_complete_once(live_server: str, client: TestClient, catalog: Catalog) -> None:
    session = create_session(client, catalog.monthly)
    with httpx.Client(base_url=live_server) as browser:
        page = browser.get(f"/checkout/{session['id']}")
        csrf = csrf_of(page.text)
        cookies = dict(browser.cookies)
    answers: list[int] = []

    def submit() -> None:
        with httpx.Client(base_url=live_server, cookies=cookies, timeout=30) as other:
            answers.append(other.post(f"/checkout/{session['id']}", data=card_form(csrf)).status_code)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [303] * 4
    assert counts(client) == {"customers": 1, "payment_methods": 1, "subscriptions": 1, "invoices": 1}


def test_declined_card_creates_nothing_and_the_session_can_be_retried(
    client: TestClient, catalog: Catalog
) -> None:
    session = create_session(client, catalog.monthly)
    csrf = open_page(client, session)
    events_before = len(client.get("/v1/events?limit=100").json()["data"])
    declined = client.post(f"/checkout/{session['id']}", data=card_form(csrf, card_number="4000000000000002"))
    assert declined.status_code == 402
    assert errors_on(declined.text) == {"card_number": "Your card was declined. Please use another card."}
    assert "4000000000000002" not in declined.text  # a card number is never echoed back
    assert 'value="12 / 34"' in declined.text  # what is safe to show back is kept
    assert counts(client) == EMPTY
    assert len(client.get("/v1/events?limit=100").json()["data"]) == events_before
    # The first charge fails after the card was accepted: still nothing is left behind.
    failing = client.post(f"/checkout/{session['id']}", data=card_form(csrf, card_number="4000000000000341"))
    assert failing.status_code == 402
    assert errors_on(failing.text) == {"card_number": "Your card was declined. Please use another card."}
    assert counts(client) == EMPTY
    assert client.get(f"/v1/checkout/sessions/{session['id']}").json()["status"] == "open"
    bank = client.post(
        f"/checkout/{session['id']}",
        data=card_form(csrf, method="sepa_debit", iban="DE62370400440532013001", card_number=""),
    )
    assert errors_on(bank.text) == {
        "iban": "Your bank refused the direct debit. Please use another account or payment method."
    }
    assert counts(client) == EMPTY

    retried = client.post(f"/checkout/{session['id']}", data=card_form(csrf), follow_redirects=False)
    assert retried.status_code == 303
    assert counts(client) == {"customers": 1, "payment_methods": 1, "subscriptions": 1, "invoices": 1}


def test_invalid_fields_are_shown_in_place(client: TestClient, catalog: Catalog) -> None:
    session = create_session(client, catalog.monthly)
    csrf = open_page(client, session)
    cases: list[tuple[dict[str, str], dict[str, str]]] = [
        (
            {"email": "", "name": ""},
            {"email": "Please enter your email address.", "name": "Please enter your name."},
        ),
        ({"email": "ada@"}, {"email": "Please enter a valid email address."}),
        (
            {"card_number": "", "card_expiry": "", "card_cvc": ""},
            {
                "card_number": "Please enter your card number.",
                "card_expiry": "Please enter the expiry date.",
                "card_cvc": "Please enter the security code.",
            },
        ),
        (
            {"card_number": "4242 4242 4242 4241"},
            {"card_number": "This card number is incorrect. Please check it."},
        ),
        ({"card_number": "4242abc"}, {"card_number": "This is not a valid card number."}),
        ({"card_expiry": "13/30"}, {"card_expiry": "Please enter a valid expiry date that has not passed."}),
        ({"card_expiry": "01/20"}, {"card_expiry": "Please enter a valid expiry date that has not passed."}),
        ({"card_cvc": "12"}, {"card_cvc": "The security code is 3 digits (4 on American Express cards)."}),
        ({"method": "ideal"}, {"method": "Please choose a payment method."}),
        (
            {"method": "sepa_debit", "iban": "DE00 1234"},
            {"iban": "This IBAN is not valid. Please check the country code and the digits."},
        ),
        ({"method": "sepa_debit", "iban": ""}, {"iban": "Please enter your IBAN."}),
    ]
    for fields, expected in cases:
        response = client.post(f"/checkout/{session['id']}", data=card_form(csrf, **fields))
        assert response.status_code in (400, 402), fields
        assert errors_on(response.text) == expected, fields
        assert 'role="alert"' in response.text
    assert counts(client) == EMPTY
    escaped = client.post(f"/checkout/{session['id']}", data=card_form(csrf, name="<b>Ada</b>", email=""))
    assert "<b>Ada</b>" not in escaped.text and "&lt;b&gt;Ada&lt;/b&gt;" in escaped.text


def test_csrf_is_bound_to_the_session_and_the_browser(
    client: TestClient, anonymous_client: TestClient, catalog: Catalog
) -> None:
    session = create_session(client, catalog.monthly)
    other = create_session(client, catalog.monthly)
    csrf = open_page(client, session)
    no_token = client.post(f"/checkout/{session['id']}", data={**card_form(csrf), "csrf_token": ""})
    assert no_token.status_code == 403 and "This form has expired" in no_token.text
    # A token of this browser for another session.
    open_page(client, other)
    wrong_session = client.post(f"/checkout/{other['id']}", data=card_form(csrf))
    assert wrong_session.status_code == 403
    # The right token from a browser without the cookie.
    without_cookie = anonymous_client.post(f"/checkout/{session['id']}", data=card_form(csrf))
    assert without_cookie.status_code == 403
    assert counts(client) == EMPTY


def test_unknown_and_expired_sessions_are_clear_pages(client: TestClient, catalog: Catalog) -> None:
    unknown = client.get("/checkout/cs_nothing", headers={"accept-language": "fr"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in unknown.text
    assert client.get("/checkout/cs_x/elsewhere").status_code == 404
    assert client.get("/checkout/cs_x/elsewhere").headers["content-type"].startswith("text/html")

    session = create_session(client, catalog.monthly)
    csrf = open_page(client, session)
    client.post(f"/v1/checkout/sessions/{session['id']}/expire")
    page = client.get(f"/checkout/{session['id']}")
    assert page.status_code == 410
    assert "This checkout has expired" in page.text
    assert 'href="https://shop.example/pricing"' in page.text
    submitted = client.post(f"/checkout/{session['id']}", data=card_form(csrf), follow_redirects=False)
    assert submitted.status_code == 410
    assert counts(client) == EMPTY


def test_a_session_past_its_time_cannot_be_completed(
    client: TestClient, catalog: Catalog, runtime: Runtime
) -> None:
    clock = FrozenClock(runtime.clock.now())
    runtime.clock = clock
    session = create_session(client, catalog.monthly, expires_at=str(clock.now() + 1800))
    csrf = open_page(client, session)
    clock.advance(1800)
    submitted = client.post(f"/checkout/{session['id']}", data=card_form(csrf), follow_redirects=False)
    assert submitted.status_code == 410
    assert counts(client) == EMPTY
    assert client.get(f"/v1/checkout/sessions/{session['id']}").json()["status"] == "expired"
    assert len(client.get("/v1/events?type=checkout.session.expired").json()["data"]) == 1


def test_trial_and_discount_in_the_summary(client: TestClient, catalog: Catalog) -> None:
    client.post("/v1/coupons", data={"id": "QUARTER", "percent_off": "25", "duration": "forever"})
    session = create_session(
        client,
        catalog.monthly,
        **{"discounts[0][coupon]": "QUARTER", "subscription_data[trial_period_days]": "14"},
    )
    page = client.get(f"/checkout/{session['id']}").text
    assert "Free trial" in page and "14 days, until" in page
    assert "25% off on every payment" in page and "−€5.00" in page
    assert "First payment of €15.00 on" in page
    assert 'name="promotion_code"' not in page  # a session with discounts takes no codes
    assert "Start trial" in page
    done = client.post(f"/checkout/{session['id']}", data=card_form(csrf_of(page)), follow_redirects=False)
    assert done.status_code == 303
    completed = client.get(f"/v1/checkout/sessions/{session['id']}?expand[]=subscription").json()
    assert completed["payment_status"] == "no_payment_required"
    subscription = completed["subscription"]
    assert subscription["status"] == "trialing"
    assert subscription["trial_end"] - subscription["trial_start"] == 14 * 86400
    assert completed["discounts"] == [{"coupon": "QUARTER", "promotion_code": None}]
    assert len(subscription["discounts"]) == 1


def test_a_discount_used_up_meanwhile_creates_nothing(client: TestClient, catalog: Catalog) -> None:
    client.post("/v1/coupons", data={"id": "ONCE", "percent_off": "10", "max_redemptions": "1"})
    session = create_session(client, catalog.monthly, **{"discounts[0][coupon]": "ONCE"})
    csrf = open_page(client, session)
    other = client.post(
        "/v1/customers", data={"email": "x@example.com", "payment_method": "pm_card_visa"}
    ).json()
    taken = client.post(
        "/v1/subscriptions",
        data={
            "customer": other["id"],
            "items[0][price]": catalog.monthly,
            "coupon": "ONCE",
            "payment_behavior": "default_incomplete",
        },
    )
    assert taken.status_code == 200, taken.text
    before = counts(client)
    refused = client.post(f"/checkout/{session['id']}", data=card_form(csrf))
    assert refused.status_code == 400
    assert "The discount of this offer can no longer be applied." in refused.text
    assert counts(client) == before


def test_promotion_codes_on_the_page(client: TestClient, catalog: Catalog) -> None:
    client.post("/v1/coupons", data={"id": "FIVE", "amount_off": "500", "currency": "eur"})
    client.post(
        "/v1/promotion_codes",
        data={"promotion[type]": "coupon", "promotion[coupon]": "FIVE", "code": "SPRING"},
    )
    session = create_session(client, catalog.monthly, allow_promotion_codes="true")
    csrf = open_page(client, session)
    unknown = client.post(
        f"/checkout/{session['id']}",
        data={"csrf_token": csrf, "action": "apply_code", "promotion_code": "NOPE"},
    )
    assert unknown.status_code == 400
    assert errors_on(unknown.text) == {"promotion_code": "This code is not valid for this order."}
    applied = client.post(
        f"/checkout/{session['id']}",
        data={
            "csrf_token": csrf,
            "action": "apply_code",
            "promotion_code": "spring",
            "email": "bo@example.com",
        },
    )
    assert applied.status_code == 200
    assert "Promotion code SPRING applied." in applied.text and "−€5.00" in applied.text
    assert 'name="applied_code" value="SPRING"' in applied.text
    assert 'value="bo@example.com"' in applied.text
    done = client.post(
        f"/checkout/{session['id']}", data=card_form(csrf, applied_code="spring"), follow_redirects=False
    )
    assert done.status_code == 303
    completed = client.get(f"/v1/checkout/sessions/{session['id']}").json()
    assert (completed["amount_subtotal"], completed["amount_total"]) == (2000, 1500)
    assert completed["total_details"]["amount_discount"] == 500
    [discount] = completed["discounts"]
    assert discount["coupon"] == "FIVE" and discount["promotion_code"].startswith("promo_")
    invoice = client.get(f"/v1/invoices/{completed['invoice']}").json()
    assert (invoice["subtotal"], invoice["total"], invoice["amount_paid"]) == (2000, 1500, 1500)


def test_returning_customers_are_recognized_by_email(client: TestClient, catalog: Catalog) -> None:
    old = client.post(
        "/v1/customers",
        data={
            "email": "cleo@example.com",
            "name": "Cleo",
            "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa",
        },
    ).json()
    first = client.post(
        "/v1/subscriptions", data={"customer": old["id"], "items[0][price]": catalog.monthly}
    ).json()
    client.delete(f"/v1/subscriptions/{first['id']}")

    session = create_session(client, catalog.monthly)
    csrf = open_page(client, session)
    done = client.post(
        f"/checkout/{session['id']}",
        data=card_form(csrf, email="cleo@example.com", name="Cleo B.", card_number="5555 5555 5555 4444"),
        follow_redirects=False,
    )
    assert done.status_code == 303
    completed = client.get(f"/v1/checkout/sessions/{session['id']}?expand[]=subscription").json()
    assert completed["customer"] == old["id"]
    assert completed["tenure_reactivation_of"] == first["id"]
    assert completed["subscription"]["metadata"] == {"tenure_reactivation_of": first["id"]}
    customer = client.get(f"/v1/customers/{old['id']}").json()
    # A recognized customer keeps their details and their default payment method.
    assert customer["name"] == "Cleo"
    assert (
        customer["invoice_settings"]["default_payment_method"]
        == old["invoice_settings"]["default_payment_method"]
    )
    assert (
        completed["subscription"]["default_payment_method"]
        != customer["invoice_settings"]["default_payment_method"]
    )

    # Subscribing again while subscribed is no reactivation.
    another = create_session(client, catalog.monthly)
    csrf = open_page(client, another)
    client.post(f"/checkout/{another['id']}", data=card_form(csrf, email="cleo@example.com"))
    assert client.get(f"/v1/checkout/sessions/{another['id']}").json()["tenure_reactivation_of"] is None


def test_a_session_for_a_known_customer(client: TestClient, catalog: Catalog) -> None:
    customer = client.post(
        "/v1/customers", data={"email": "dee@example.com", "name": "Dee", "preferred_locales[0]": "de"}
    ).json()["id"]
    session = create_session(client, catalog.monthly, customer=customer)
    page = client.get(f"/checkout/{session['id']}")
    assert '<html lang="de">' in page.text  # the customer's language
    assert 'value="dee@example.com" readonly' in page.text
    done = client.post(
        f"/checkout/{session['id']}",
        data=card_form(csrf_of(page.text), email="someone-else@example.com"),
        follow_redirects=False,
    )
    assert done.status_code == 303
    completed = client.get(f"/v1/checkout/sessions/{session['id']}").json()
    assert completed["customer"] == customer
    assert completed["customer_details"]["email"] == "dee@example.com"
    assert counts(client)["customers"] == 1
    refreshed = client.get(f"/v1/customers/{customer}").json()
    assert refreshed["invoice_settings"]["default_payment_method"] is not None


def test_without_success_url_tenure_confirms(client: TestClient, catalog: Catalog) -> None:
    response = client.post(
        "/v1/checkout/sessions", data={"mode": "subscription", "line_items[0][price]": catalog.monthly}
    )
    session = response.json()
    csrf = open_page(client, session)
    done = client.post(f"/checkout/{session['id']}", data=card_form(csrf))
    assert done.status_code == 200
    assert "Thank you!" in done.text
    assert str(done.url).endswith(f"/checkout/{session['id']}/done")
