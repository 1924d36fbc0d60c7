"""`POST /v1/billing_portal/sessions`: Stripe's shape, every flow, every refusal, and a URL kept secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from tenure.portal.models import PortalSession, hash_token
from tenure.runtime import Runtime
from tests.portal.conftest import CONFIGURATIONS, SESSIONS, Shop, counts, error_of
from tests.subscriptions.conftest import ok

SESSION_KEYS = {
    "configuration",
    "created",
    "customer",
    "flow",
    "id",
    "livemode",
    "locale",
    "object",
    "on_behalf_of",
    "return_url",
    "url",
    "customer_account",
}
FLOW_KEYS = {
    "after_completion",
    "subscription_cancel",
    "subscription_update",
    "subscription_update_confirm",
    "type",
}
CANCEL = "flow_data[subscription_cancel]"


def secret_of(url: str, runtime: Runtime) -> str:
    prefix = f"{runtime.settings.public_base_url}/portal/session/"
    assert url.startswith(prefix)
    return url[len(prefix) :]


def test_session_without_flow(client: TestClient, runtime: Runtime, shop: Shop) -> None:
    customer = shop.customer()
    created = ok(
        client.post(SESSIONS, data={"customer": customer, "return_url": "https://example.com/account"})
    )
    assert set(created) == SESSION_KEYS
    assert created["object"] == "billing_portal.session"
    assert created["id"].startswith("bps_")
    assert created["configuration"].startswith("bpc_")  # the default, created on first use
    assert (created["customer"], created["flow"], created["locale"]) == (customer, None, None)
    assert (created["on_behalf_of"], created["customer_account"], created["livemode"]) == (None, None, False)
    assert created["return_url"] == "https://example.com/account"
    secret = secret_of(created["url"], runtime)
    assert len(secret) >= 32 and secret.replace("-", "").replace("_", "").isalnum()
    default = ok(client.get(f"{CONFIGURATIONS}/{created['configuration']}"))
    assert default["is_default"] is True
    with runtime.sessionmaker() as session:
        stored = session.scalar(select(PortalSession).where(PortalSession.id == created["id"]))
        assert stored is not None
        assert stored.url_expires_at == stored.created + 300 == created["created"] + 300
        assert stored.url_secret_hash == hash_token(secret)
        assert (stored.opened_at, stored.browser_token_hash, stored.browser_expires_at) == (None, None, None)
    # Each session gets its own secret.
    other = ok(client.post(SESSIONS, data={"customer": customer}))
    assert secret_of(other["url"], runtime) != secret


def test_the_url_secret_is_stored_nowhere_in_clear(client: TestClient, runtime: Runtime, shop: Shop) -> None:
    customer = shop.customer()
    created = ok(client.post(SESSIONS, data={"customer": customer}))
    secret = secret_of(created["url"], runtime)
    with runtime.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                assert secret not in repr(tuple(row)), table
    event = ok(client.get("/v1/events", params={"type": "billing_portal.session.created"}))["data"][0]
    assert event["data"]["object"]["id"] == created["id"]
    assert event["data"]["object"]["url"] is None
    assert {**event["data"]["object"], "url": created["url"]} == created


def test_locale_return_url_and_expand(client: TestClient, shop: Shop) -> None:
    customer = shop.customer()
    configuration = shop.configuration(default_return_url="https://example.com/home")
    french = ok(client.post(SESSIONS, data={"customer": customer, "locale": "fr"}))
    assert french["locale"] == "fr"
    assert french["return_url"] == "https://example.com/home"  # the configuration's default
    assert ok(client.post(SESSIONS, data={"customer": customer, "locale": "auto"}))["locale"] is None
    assert ok(client.post(SESSIONS, data={"customer": customer, "locale": "en-GB"}))["locale"] == "en-GB"
    expanded = ok(
        client.post(
            SESSIONS,
            data={"customer": customer, "configuration": configuration["id"], "expand[]": "configuration"},
        )
    )
    assert expanded["configuration"]["object"] == "billing_portal.configuration"
    assert expanded["configuration"]["id"] == configuration["id"]


def test_cancel_flow_with_a_retention_coupon(client: TestClient, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    coupon = shop.coupon()
    created = ok(
        client.post(
            SESSIONS,
            data={
                "customer": customer,
                "flow_data[type]": "subscription_cancel",
                f"{CANCEL}[subscription]": subscription,
                f"{CANCEL}[retention][type]": "coupon_offer",
                f"{CANCEL}[retention][coupon_offer][coupon]": coupon,
                "flow_data[after_completion][type]": "hosted_confirmation",
                "flow_data[after_completion][hosted_confirmation][custom_message]": "See you soon!",
            },
        )
    )
    assert created["flow"] == {
        "after_completion": {
            "hosted_confirmation": {"custom_message": "See you soon!"},
            "redirect": None,
            "type": "hosted_confirmation",
        },
        "subscription_cancel": {
            "retention": {"coupon_offer": {"coupon": coupon}, "type": "coupon_offer"},
            "subscription": subscription,
        },
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": "subscription_cancel",
    }


def test_update_flows_and_payment_method_flow(client: TestClient, shop: Shop) -> None:
    customer = shop.customer()
    subscription = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": shop.monthly})
    )
    item = subscription["items"]["data"][0]["id"]
    configuration = shop.configuration(
        **{
            "features[subscription_update][enabled]": "true",
            "features[subscription_update][default_allowed_updates][]": "price",
            "features[subscription_update][products][0][product]": shop.product,
            "features[subscription_update][products][0][prices][]": [shop.monthly, shop.cheaper],
        }
    )
    base = {"customer": customer, "configuration": configuration["id"]}
    update = ok(
        client.post(
            SESSIONS,
            data={
                **base,
                "flow_data[type]": "subscription_update",
                "flow_data[subscription_update][subscription]": subscription["id"],
                "flow_data[after_completion][type]": "redirect",
                "flow_data[after_completion][redirect][return_url]": "https://example.com/done",
            },
        )
    )
    assert set(update["flow"]) == FLOW_KEYS
    assert update["flow"]["subscription_update"] == {"subscription": subscription["id"]}
    assert update["flow"]["after_completion"] == {
        "hosted_confirmation": None,
        "redirect": {"return_url": "https://example.com/done"},
        "type": "redirect",
    }
    confirm = ok(
        client.post(
            SESSIONS,
            data={
                **base,
                "flow_data[type]": "subscription_update_confirm",
                "flow_data[subscription_update_confirm][subscription]": subscription["id"],
                "flow_data[subscription_update_confirm][items][0][id]": item,
                "flow_data[subscription_update_confirm][items][0][price]": shop.cheaper,
                "flow_data[subscription_update_confirm][discounts][0][coupon]": shop.coupon(),
            },
        )
    )
    details = confirm["flow"]["subscription_update_confirm"]
    assert details["items"] == [{"id": item, "price": shop.cheaper, "quantity": None}]
    assert details["discounts"][0]["promotion_code"] is None
    assert confirm["flow"]["after_completion"]["type"] == "portal_homepage"
    not_offered = client.post(
        SESSIONS,
        data={
            **base,
            "flow_data[type]": "subscription_update_confirm",
            "flow_data[subscription_update_confirm][subscription]": subscription["id"],
            "flow_data[subscription_update_confirm][items][0][id]": item,
            "flow_data[subscription_update_confirm][items][0][price]": shop.yearly,
        },
    )
    assert error_of(not_offered)["param"] == "flow_data[subscription_update_confirm][items][0][price]"
    payment = ok(
        client.post(SESSIONS, data={"customer": customer, "flow_data[type]": "payment_method_update"})
    )
    assert payment["flow"]["type"] == "payment_method_update"
    assert [payment["flow"][k] for k in ("subscription_cancel", "subscription_update")] == [None, None]


@dataclass
class World:
    shop: Shop
    customer: str
    subscription: str
    scheduled: str
    canceled: str
    someone_elses: str
    used_up_coupon: str
    no_cancel_configuration: str
    inactive_configuration: str
    deleted_customer: str


@pytest.fixture
def world(client: TestClient, shop: Shop) -> World:
    shop.configuration()  # the default
    customer = shop.customer()
    scheduled = shop.subscribe(customer)
    ok(client.post(f"/v1/subscriptions/{scheduled}", data={"cancel_at_period_end": "true"}))
    canceled = shop.subscribe(customer)
    ok(client.delete(f"/v1/subscriptions/{canceled}"))
    used_up = shop.coupon(max_redemptions=1)
    subscription = shop.subscribe(customer, coupon=used_up)
    other = shop.customer()
    deleted = shop.customer()
    ok(client.delete(f"/v1/customers/{deleted}"))
    inactive = shop.configuration()["id"]
    ok(client.post(f"{CONFIGURATIONS}/{inactive}", data={"active": "false"}))
    return World(
        shop=shop,
        customer=customer,
        subscription=subscription,
        scheduled=scheduled,
        canceled=canceled,
        someone_elses=shop.subscribe(other),
        used_up_coupon=used_up,
        no_cancel_configuration=shop.configuration(**{"features[subscription_cancel][enabled]": "false"})[
            "id"
        ],
        inactive_configuration=inactive,
        deleted_customer=deleted,
    )


def _cancel(world: World, subscription: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "customer": world.customer,
        "flow_data[type]": "subscription_cancel",
        f"{CANCEL}[subscription]": subscription or world.subscription,
        **extra,
    }


Case = Callable[[World], dict[str, str]]
CASES: list[tuple[str, Case, str]] = [
    ("no customer", lambda w: {}, "customer"),
    ("unknown customer", lambda w: {"customer": "cus_missing"}, "customer"),
    ("deleted customer", lambda w: {"customer": w.deleted_customer}, "customer"),
    ("unknown configuration", lambda w: {"customer": w.customer, "configuration": "bpc_x"}, "configuration"),
    (
        "inactive configuration",
        lambda w: {"customer": w.customer, "configuration": w.inactive_configuration},
        "configuration",
    ),
    ("on_behalf_of", lambda w: {"customer": w.customer, "on_behalf_of": "acct_1"}, "on_behalf_of"),
    ("unknown locale", lambda w: {"customer": w.customer, "locale": "xx"}, "locale"),
    (
        "javascript return_url",
        lambda w: {"customer": w.customer, "return_url": "javascript:alert(1)"},
        "return_url",
    ),
    ("relative return_url", lambda w: {"customer": w.customer, "return_url": "/account"}, "return_url"),
    ("data return_url", lambda w: {"customer": w.customer, "return_url": "data:text/html,x"}, "return_url"),
    (
        "unknown flow type",
        lambda w: {"customer": w.customer, "flow_data[type]": "teleport"},
        "flow_data[type]",
    ),
    (
        "unsupported flow type",
        lambda w: {"customer": w.customer, "flow_data[type]": "customer_update"},
        "flow_data[type]",
    ),
    (
        "cancel flow without details",
        lambda w: {"customer": w.customer, "flow_data[type]": "subscription_cancel"},
        CANCEL,
    ),
    (
        "details of another flow",
        lambda w: {**_cancel(w), "flow_data[subscription_update][subscription]": w.subscription},
        "flow_data[subscription_update]",
    ),
    ("unknown subscription", lambda w: _cancel(w, "sub_missing"), f"{CANCEL}[subscription]"),
    ("another customer's subscription", lambda w: _cancel(w, w.someone_elses), f"{CANCEL}[subscription]"),
    ("canceled subscription", lambda w: _cancel(w, w.canceled), f"{CANCEL}[subscription]"),
    ("already scheduled to cancel", lambda w: _cancel(w, w.scheduled), f"{CANCEL}[subscription]"),
    (
        "cancel feature disabled",
        lambda w: {**_cancel(w), "configuration": w.no_cancel_configuration},
        "flow_data[type]",
    ),
    (
        "unknown retention coupon",
        lambda w: _cancel(
            w,
            **{
                f"{CANCEL}[retention][type]": "coupon_offer",
                f"{CANCEL}[retention][coupon_offer][coupon]": "NOPE",
            },
        ),
        f"{CANCEL}[retention][coupon_offer][coupon]",
    ),
    (
        "used-up retention coupon",
        lambda w: _cancel(
            w,
            **{
                f"{CANCEL}[retention][type]": "coupon_offer",
                f"{CANCEL}[retention][coupon_offer][coupon]": w.used_up_coupon,
            },
        ),
        f"{CANCEL}[retention][coupon_offer][coupon]",
    ),
    (
        "retention without coupon_offer",
        lambda w: _cancel(w, **{f"{CANCEL}[retention][type]": "coupon_offer"}),
        f"{CANCEL}[retention][coupon_offer]",
    ),
    (
        "redirect without return_url",
        lambda w: _cancel(w, **{"flow_data[after_completion][type]": "redirect"}),
        "flow_data[after_completion][redirect][return_url]",
    ),
    (
        "redirect to javascript:",
        lambda w: _cancel(
            w,
            **{
                "flow_data[after_completion][type]": "redirect",
                "flow_data[after_completion][redirect][return_url]": "javascript:alert(1)",
            },
        ),
        "flow_data[after_completion][redirect][return_url]",
    ),
    (
        "custom message too long",
        lambda w: _cancel(
            w,
            **{
                "flow_data[after_completion][type]": "hosted_confirmation",
                "flow_data[after_completion][hosted_confirmation][custom_message]": "x" * 501,
            },
        ),
        "flow_data[after_completion][hosted_confirmation][custom_message]",
    ),
    (
        "redirect settings with another type",
        lambda w: _cancel(
            w,
            **{
                "flow_data[after_completion][type]": "portal_homepage",
                "flow_data[after_completion][redirect][return_url]": "https://example.com",
            },
        ),
        "flow_data[after_completion][redirect]",
    ),
    (
        "update feature disabled",
        lambda w: {
            "customer": w.customer,
            "flow_data[type]": "subscription_update",
            "flow_data[subscription_update][subscription]": w.subscription,
        },
        "flow_data[type]",
    ),
]


@pytest.mark.parametrize(("case", "param"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_refused_sessions_change_nothing(
    client: TestClient, runtime: Runtime, world: World, case: Case, param: str
) -> None:
    before = counts(runtime)
    error = error_of(client.post(SESSIONS, data=case(world)))
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert counts(runtime) == before


def test_a_refused_session_does_not_leave_a_default_configuration_behind(
    client: TestClient, runtime: Runtime, shop: Shop
) -> None:
    customer = shop.customer()
    before = counts(runtime)
    assert before[0] == 0
    response = client.post(
        SESSIONS,
        data={
            "customer": customer,
            "flow_data[type]": "subscription_cancel",
            f"{CANCEL}[subscription]": "sub_x",
        },
    )
    assert error_of(response)["param"] == f"{CANCEL}[subscription]"
    assert counts(runtime) == before


def test_session_events(client: TestClient, shop: Shop) -> None:
    customer = shop.customer()
    created = ok(client.post(SESSIONS, data={"customer": customer}))
    types = [e["type"] for e in ok(client.get("/v1/events", params={"type": "billing_portal.*"}))["data"]]
    # The default configuration was created on first use, then the session.
    assert types == ["billing_portal.session.created", "billing_portal.configuration.created"]
    event = ok(client.get("/v1/events", params={"type": "billing_portal.session.created"}))["data"][0]
    assert event["data"]["object"]["customer"] == created["customer"]


def _json(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


def test_json_bodies_work_too(client: TestClient, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    response = client.post(
        SESSIONS,
        json={
            "customer": customer,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": subscription},
                "after_completion": {
                    "type": "redirect",
                    "redirect": {"return_url": "https://example.com/bye"},
                },
            },
        },
    )
    assert response.status_code == 200, response.text
    assert _json(response)["flow"]["after_completion"]["redirect"] == {
        "return_url": "https://example.com/bye"
    }
