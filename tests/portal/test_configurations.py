"""`/v1/billing_portal/configurations`: Stripe's shape and defaults, `tenure_*` extensions, one default."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenure.portal.config_service import effective_configuration
from tenure.portal.models import STANDARD_REASONS, offer_for
from tenure.runtime import Runtime
from tests.portal.conftest import CONFIGURATIONS, Shop, counts, error_of
from tests.spec import SPEC_DIR
from tests.subscriptions.conftest import ok

# The codes of `cancellation-reasons.tsv`, in its order.
TSV_ORDER = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]
SPEC_TSV = SPEC_DIR / "cancellation-reasons.tsv"

# Key structure of Stripe's `billing_portal.configuration` fixture.
FIXTURE_KEYS = {
    "active",
    "application",
    "business_profile",
    "created",
    "default_return_url",
    "features",
    "id",
    "is_default",
    "livemode",
    "login_page",
    "metadata",
    "object",
    "updated",
    "name",
}
FEATURE_KEYS = {
    "customer_update": {"allowed_updates", "enabled"},
    "invoice_history": {"enabled"},
    "payment_method_update": {"enabled", "payment_method_configuration"},
    "subscription_cancel": {"cancellation_reason", "enabled", "mode", "proration_behavior"},
    "subscription_update": {
        "default_allowed_updates",
        "enabled",
        "proration_behavior",
        "schedule_at_period_end",
        "trial_update_behavior",
        "billing_cycle_anchor",
        "products",  # Stripe shows it once products are configured
    },
}
TENURE_FIELDS = {"tenure_retention", "tenure_custom_reasons", "tenure_branding", "tenure_texts"}


def test_standard_reasons_follow_the_tsv() -> None:
    assert list(STANDARD_REASONS) == TSV_ORDER
    if SPEC_TSV.exists():
        rows = SPEC_TSV.read_text(encoding="utf-8").splitlines()[1:]
        assert [row.split("\t")[0] for row in rows if row] == TSV_ORDER


def test_defaults_and_shape(client: TestClient, runtime: Runtime) -> None:
    created = ok(client.post(CONFIGURATIONS, data={"business_profile[headline]": "Manage your plan"}))
    assert set(created) == FIXTURE_KEYS | TENURE_FIELDS
    assert created["object"] == "billing_portal.configuration"
    assert created["id"].startswith("bpc_")
    assert (created["active"], created["is_default"], created["livemode"]) == (True, True, False)
    assert created["updated"] == created["created"]
    assert created["login_page"] == {"enabled": False, "url": None}
    assert created["business_profile"] == {
        "headline": "Manage your plan",
        "privacy_policy_url": None,
        "terms_of_service_url": None,
    }
    features = created["features"]
    assert {name: set(value) for name, value in features.items()} == FEATURE_KEYS
    assert features["subscription_cancel"] == {
        "cancellation_reason": {"enabled": True, "options": TSV_ORDER},
        "enabled": True,
        "mode": "at_period_end",
        "proration_behavior": "none",
    }
    assert features["subscription_update"]["schedule_at_period_end"] == {"conditions": []}
    assert created["tenure_retention"] == {"coupon": None, "cooldown_days": 90, "offers": {}}
    assert created["tenure_custom_reasons"] == []
    assert created["tenure_branding"] == {"name": None, "logo_url": None, "accent_color": None}
    assert created["tenure_texts"] == {}
    assert ok(client.get(f"{CONFIGURATIONS}/{created['id']}")) == created
    assert error_of(client.get(f"{CONFIGURATIONS}/bpc_missing"), 404)["code"] == "resource_missing"


def test_stripe_settings_round_trip_and_merge(client: TestClient, shop: Shop) -> None:
    created = shop.configuration(
        **{
            "default_return_url": "https://example.com/account",
            "business_profile[privacy_policy_url]": "https://example.com/privacy",
            "business_profile[terms_of_service_url]": "http://example.com/terms",
            "features[customer_update][enabled]": "true",
            "features[customer_update][allowed_updates][]": ["email", "tax_id"],
            "features[invoice_history][enabled]": "true",
            "features[subscription_cancel][mode]": "immediately",
            "features[subscription_cancel][proration_behavior]": "create_prorations",
            "features[subscription_cancel][cancellation_reason][options][]": ["unused", "too_expensive"],
            "features[subscription_update][enabled]": "true",
            "features[subscription_update][default_allowed_updates][]": ["price"],
            "features[subscription_update][products][0][product]": shop.product,
            "features[subscription_update][products][0][prices][]": [shop.monthly, shop.cheaper],
            "login_page[enabled]": "true",
            "metadata[team]": "growth",
            "name": "Main portal",
        }
    )
    features = created["features"]
    assert features["customer_update"] == {"allowed_updates": ["email", "tax_id"], "enabled": True}
    assert features["subscription_cancel"]["cancellation_reason"]["options"] == ["unused", "too_expensive"]
    assert features["subscription_update"]["products"] == [
        {
            "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
            "prices": [shop.monthly, shop.cheaper],
            "product": shop.product,
        }
    ]
    assert (created["login_page"]["enabled"], created["metadata"], created["name"]) == (
        True,
        {"team": "growth"},
        "Main portal",
    )
    # An update merges nested hashes: only the fields given change.
    updated = ok(
        client.post(
            f"{CONFIGURATIONS}/{created['id']}",
            data={"features[invoice_history][enabled]": "false", "business_profile[headline]": "Hi"},
        )
    )
    assert updated["features"]["invoice_history"] == {"enabled": False}
    assert updated["features"]["subscription_cancel"] == features["subscription_cancel"]
    assert updated["features"]["customer_update"] == features["customer_update"]
    assert updated["business_profile"]["privacy_policy_url"] == "https://example.com/privacy"
    assert updated["business_profile"]["headline"] == "Hi"
    # `""` empties a list.
    emptied = ok(
        client.post(
            f"{CONFIGURATIONS}/{created['id']}", data={"features[customer_update][allowed_updates]": ""}
        )
    )
    assert emptied["features"]["customer_update"]["allowed_updates"] == []


def test_prorations_only_when_canceling_immediately(client: TestClient, runtime: Runtime, shop: Shop) -> None:
    before = counts(runtime)
    refused = client.post(
        CONFIGURATIONS, data={"features[subscription_cancel][proration_behavior]": "create_prorations"}
    )
    assert error_of(refused)["param"] == "features[subscription_cancel][proration_behavior]"
    assert counts(runtime) == before
    immediate = shop.configuration(
        **{
            "features[subscription_cancel][mode]": "immediately",
            "features[subscription_cancel][proration_behavior]": "create_prorations",
        }
    )
    # Going back to at_period_end while prorations stay on is refused as well (the merged result counts).
    back = client.post(
        f"{CONFIGURATIONS}/{immediate['id']}", data={"features[subscription_cancel][mode]": "at_period_end"}
    )
    assert error_of(back)["param"] == "features[subscription_cancel][proration_behavior]"
    always = client.post(
        f"{CONFIGURATIONS}/{immediate['id']}",
        data={"features[subscription_cancel][proration_behavior]": "always_invoice"},
    )
    assert error_of(always)["param"] == "features[subscription_cancel][proration_behavior]"
    stored = ok(client.get(f"{CONFIGURATIONS}/{immediate['id']}"))
    assert stored["features"]["subscription_cancel"]["mode"] == "immediately"


def _extensions(shop: Shop, coupon: str) -> dict[str, Any]:
    return {
        "tenure_retention[coupon]": coupon,
        "tenure_retention[cooldown_days]": "30",
        "tenure_retention[offers][too_expensive][type]": "coupon",
        "tenure_retention[offers][unused][type]": "pause",
        "tenure_retention[offers][unused][pause_months]": "2",
        "tenure_retention[offers][team_moved][type]": "switch_price",
        "tenure_retention[offers][team_moved][price]": shop.cheaper,
        "tenure_retention[offers][missing_features][type]": "extend_trial",
        "tenure_retention[offers][missing_features][trial_days]": "14",
        "tenure_retention[offers][*][type]": "contact",
        "tenure_retention[offers][*][url]": "mailto:help@example.com",
        "tenure_custom_reasons[0][code]": "team_moved",
        "tenure_custom_reasons[0][labels][en]": "Our team moved to another tool",
        "tenure_custom_reasons[0][labels][fr]": "Notre équipe a changé d’outil",
        "tenure_custom_reasons[0][feedback]": "switched_service",
        "tenure_branding[name]": "Acme",
        "tenure_branding[logo_url]": "https://cdn.example.com/logo.png",
        "tenure_branding[accent_color]": "#1A2B3C",
        "tenure_texts[fr][headline]": "Gérez votre abonnement",
        "tenure_texts[id][cancel_intro]": "Kami sedih melihat Anda pergi",
    }


def test_extensions_round_trip(client: TestClient, shop: Shop) -> None:
    coupon = shop.coupon()
    created = shop.configuration(**_extensions(shop, coupon))
    assert created["tenure_retention"] == {
        "coupon": coupon,
        "cooldown_days": 30,
        "offers": {
            "too_expensive": {"type": "coupon", "coupon": None},
            "unused": {"type": "pause", "pause_months": 2},
            "team_moved": {"type": "switch_price", "price": shop.cheaper},
            "missing_features": {"type": "extend_trial", "trial_days": 14},
            "*": {"type": "contact", "url": "mailto:help@example.com"},
        },
    }
    assert created["tenure_custom_reasons"] == [
        {
            "code": "team_moved",
            "labels": {
                "en": "Our team moved to another tool",
                "fr": "Notre équipe a changé d’outil",
                "de": None,
                "id": None,
            },
            "feedback": "switched_service",
            "active": True,
        }
    ]
    assert created["tenure_branding"] == {
        "name": "Acme",
        "logo_url": "https://cdn.example.com/logo.png",
        "accent_color": "#1a2b3c",
    }
    assert created["tenure_texts"] == {
        "fr": {"headline": "Gérez votre abonnement"},
        "id": {"cancel_intro": "Kami sedih melihat Anda pergi"},
    }
    assert ok(client.get(f"{CONFIGURATIONS}/{created['id']}")) == created

    # Relabelling keeps the code; offers merge per reason (`""` removes one); texts merge per key.
    updated = ok(
        client.post(
            f"{CONFIGURATIONS}/{created['id']}",
            data={
                "tenure_custom_reasons[0][code]": "team_moved",
                "tenure_custom_reasons[0][labels][en]": "We switched tools",
                "tenure_custom_reasons[1][code]": "seasonal",
                "tenure_custom_reasons[1][labels][en]": "Only needed it for the season",
                "tenure_custom_reasons[1][feedback]": "unused",
                "tenure_retention[offers][unused]": "",
                "tenure_texts[fr][headline]": "",
                "tenure_texts[de][offer_text]": "Ein Angebot für Sie",
            },
        )
    )
    reasons = {reason["code"]: reason for reason in updated["tenure_custom_reasons"]}
    assert reasons["team_moved"]["labels"]["en"] == "We switched tools"
    assert reasons["team_moved"]["labels"]["fr"] == "Notre équipe a changé d’outil"
    assert reasons["seasonal"]["feedback"] == "unused"
    assert "unused" not in updated["tenure_retention"]["offers"]
    assert updated["tenure_retention"]["coupon"] == coupon
    assert updated["tenure_texts"] == {
        "id": {"cancel_intro": "Kami sedih melihat Anda pergi"},
        "de": {"offer_text": "Ein Angebot für Sie"},
    }
    # A custom reason is never removed (history refers to its code): it is deactivated.
    removed = client.post(f"{CONFIGURATIONS}/{created['id']}", data={"tenure_custom_reasons": ""})
    assert error_of(removed)["param"] == "tenure_custom_reasons"
    deactivated = ok(
        client.post(
            f"{CONFIGURATIONS}/{created['id']}",
            data={"tenure_custom_reasons[0][code]": "seasonal", "tenure_custom_reasons[0][active]": "false"},
        )
    )
    assert [r["active"] for r in deactivated["tenure_custom_reasons"]] == [True, False]
    cleared = ok(
        client.post(f"{CONFIGURATIONS}/{created['id']}", data={"tenure_branding": "", "tenure_texts": ""})
    )
    assert cleared["tenure_branding"] == {"name": None, "logo_url": None, "accent_color": None}
    assert cleared["tenure_texts"] == {}


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"tenure_branding[accent_color]": "red"}, "tenure_branding[accent_color]"),
        ({"tenure_branding[accent_color]": "#12345"}, "tenure_branding[accent_color]"),
        ({"tenure_branding[logo_url]": "javascript:alert(1)"}, "tenure_branding[logo_url]"),
        ({"tenure_branding[logo_url]": "/logo.png"}, "tenure_branding[logo_url]"),
        ({"default_return_url": "javascript:alert(1)"}, "default_return_url"),
        ({"default_return_url": "/account"}, "default_return_url"),
        ({"default_return_url": "//evil.example/x"}, "default_return_url"),
        (
            {"business_profile[privacy_policy_url]": "data:text/html,hi"},
            "business_profile[privacy_policy_url]",
        ),
        (
            {"business_profile[terms_of_service_url]": "ftp://x.example"},
            "business_profile[terms_of_service_url]",
        ),
        (
            {"tenure_custom_reasons[0][code]": "too_expensive", "tenure_custom_reasons[0][labels][en]": "x"},
            "tenure_custom_reasons[0][code]",
        ),
        ({"tenure_custom_reasons[0][code]": "Bad Code!"}, "tenure_custom_reasons[0][code]"),
        (
            {"tenure_custom_reasons[0][code]": "new_reason", "tenure_custom_reasons[0][feedback]": "unused"},
            "tenure_custom_reasons[0][labels][en]",
        ),
        (
            {"tenure_custom_reasons[0][code]": "new_reason", "tenure_custom_reasons[0][labels][en]": "New"},
            "tenure_custom_reasons[0][feedback]",
        ),
        (
            {
                "tenure_retention[offers][bored][type]": "pause",
                "tenure_retention[offers][bored][pause_months]": "1",
            },
            "tenure_retention[offers][bored]",
        ),
        ({"tenure_retention[coupon]": "NOSUCH"}, "tenure_retention[coupon]"),
        (
            {
                "tenure_retention[offers][unused][type]": "coupon",
                "tenure_retention[offers][unused][coupon]": "NOPE",
            },
            "tenure_retention[offers][unused][coupon]",
        ),
        ({"tenure_retention[offers][unused][type]": "coupon"}, "tenure_retention[offers][unused][coupon]"),
        (
            {"tenure_retention[offers][unused][type]": "pause"},
            "tenure_retention[offers][unused][pause_months]",
        ),
        (
            {
                "tenure_retention[offers][unused][type]": "pause",
                "tenure_retention[offers][unused][pause_months]": "99",
            },
            "tenure_retention[offers][unused][pause_months]",
        ),
        (
            {
                "tenure_retention[offers][unused][type]": "pause",
                "tenure_retention[offers][unused][pause_months]": "1",
                "tenure_retention[offers][unused][trial_days]": "7",
            },
            "tenure_retention[offers][unused][trial_days]",
        ),
        (
            {
                "tenure_retention[offers][*][type]": "switch_price",
                "tenure_retention[offers][*][price]": "price_x",
            },
            "tenure_retention[offers][*][price]",
        ),
        (
            {
                "tenure_retention[offers][*][type]": "contact",
                "tenure_retention[offers][*][url]": "javascript:x",
            },
            "tenure_retention[offers][*][url]",
        ),
        ({"tenure_retention[offers][*][type]": "gift"}, "tenure_retention[offers][*][type]"),
        ({"tenure_retention[cooldown_days]": "-1"}, "tenure_retention[cooldown_days]"),
        ({"tenure_texts[es][headline]": "Hola"}, "tenure_texts[es]"),
        ({"tenure_texts[fr][footer]": "Bas de page"}, "tenure_texts[fr][footer]"),
        ({"tenure_texts[fr][headline]": "x" * 1001}, "tenure_texts[fr][headline]"),
        (
            {"features[customer_update][allowed_updates][]": "password"},
            "features[customer_update][allowed_updates][0]",
        ),
        (
            {"features[subscription_cancel][cancellation_reason][options][]": "bored"},
            "features[subscription_cancel][cancellation_reason][options][0]",
        ),
        ({"features[subscription_cancel][mode]": "later"}, "features[subscription_cancel][mode]"),
        (
            {"features[payment_method_update][payment_method_configuration]": "pmc_123"},
            "features[payment_method_update][payment_method_configuration]",
        ),
        (
            {
                "features[subscription_update][enabled]": "true",
                "features[subscription_update][default_allowed_updates][]": "price",
            },
            "features[subscription_update][products]",
        ),
        (
            {
                "features[subscription_update][products][0][product]": "{product}",
                "features[subscription_update][products][0][prices][]": "{usd}x",
            },
            "features[subscription_update][products][0][prices][0]",
        ),
        (
            {
                "features[subscription_update][products][0][product]": "prod_missing",
                "features[subscription_update][products][0][prices][]": "{monthly}",
            },
            "features[subscription_update][products][0][product]",
        ),
        ({"features[unknown][enabled]": "true"}, "features[unknown]"),
        ({"is_default": "maybe"}, "is_default"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(
    client: TestClient, runtime: Runtime, shop: Shop, data: dict[str, str], param: str
) -> None:
    before = counts(runtime)
    body = {
        key: value.format(product=shop.product, usd=shop.usd, monthly=shop.monthly)
        for key, value in data.items()
    }
    response = client.post(CONFIGURATIONS, data=body)
    assert error_of(response)["param"] == param
    assert counts(runtime) == before


def test_price_of_another_product_is_refused(client: TestClient, shop: Shop) -> None:
    other = ok(client.post("/v1/products", data={"name": "Other"}))["id"]
    response = client.post(
        CONFIGURATIONS,
        data={
            "features[subscription_update][products][0][product]": other,
            "features[subscription_update][products][0][prices][]": shop.monthly,
        },
    )
    assert error_of(response)["param"] == "features[subscription_update][products][0][prices][0]"


def test_one_default_at_a_time(client: TestClient, shop: Shop) -> None:
    first = shop.configuration(name="first")
    second = shop.configuration(name="second")
    assert (first["is_default"], second["is_default"]) == (True, False)
    promoted = ok(client.post(f"{CONFIGURATIONS}/{second['id']}", data={"is_default": "true"}))
    assert promoted["is_default"] is True
    assert ok(client.get(f"{CONFIGURATIONS}/{first['id']}"))["is_default"] is False
    defaults = ok(client.get(CONFIGURATIONS, params={"is_default": "true"}))["data"]
    assert [c["id"] for c in defaults] == [second["id"]]
    third = shop.configuration(name="third", is_default="true")
    assert third["is_default"] is True
    listed = ok(client.get(CONFIGURATIONS))
    assert [(c["name"], c["is_default"]) for c in listed["data"]] == [
        ("third", True),
        ("second", False),
        ("first", False),
    ]
    assert listed["url"] == CONFIGURATIONS
    # The default cannot be deactivated nor stop being the default on its own.
    assert (
        error_of(client.post(f"{CONFIGURATIONS}/{third['id']}", data={"active": "false"}))["param"]
        == "active"
    )
    assert (
        error_of(client.post(f"{CONFIGURATIONS}/{third['id']}", data={"is_default": "false"}))["param"]
        == "is_default"
    )
    inactive = ok(client.post(f"{CONFIGURATIONS}/{first['id']}", data={"active": "false"}))
    assert inactive["active"] is False
    assert error_of(client.post(f"{CONFIGURATIONS}/{first['id']}", data={"is_default": "true"}))["param"] == (
        "is_default"
    )
    assert [c["id"] for c in ok(client.get(CONFIGURATIONS, params={"active": "false"}))["data"]] == [
        first["id"]
    ]


def test_events_carry_the_changes(client: TestClient, shop: Shop) -> None:
    first = shop.configuration()
    second = shop.configuration()
    ok(
        client.post(
            f"{CONFIGURATIONS}/{second['id']}",
            data={"is_default": "true", "features[subscription_cancel][mode]": "immediately"},
        )
    )
    events = ok(client.get("/v1/events", params={"type": "billing_portal.configuration.*", "limit": 10}))[
        "data"
    ]
    summary = [(e["type"], e["data"]["object"]["id"]) for e in reversed(events)]
    assert summary == [
        ("billing_portal.configuration.created", first["id"]),
        ("billing_portal.configuration.created", second["id"]),
        ("billing_portal.configuration.updated", first["id"]),
        ("billing_portal.configuration.updated", second["id"]),
    ]
    undefaulted, changed = events[1], events[0]
    assert undefaulted["data"]["previous_attributes"]["is_default"] is True
    previous = changed["data"]["previous_attributes"]
    assert previous["is_default"] is False
    assert previous["features"] == {"subscription_cancel": {"mode": "at_period_end"}}
    # An update that changes nothing records nothing.
    ok(
        client.post(
            f"{CONFIGURATIONS}/{second['id']}", data={"features[subscription_cancel][mode]": "immediately"}
        )
    )
    again = ok(client.get("/v1/events", params={"type": "billing_portal.configuration.*", "limit": 10}))[
        "data"
    ]
    assert len(again) == 4


def test_effective_configuration_creates_one_default(runtime: Runtime, client: TestClient) -> None:
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        created = effective_configuration(session, None, now=now)
        assert created.is_default and created.features["subscription_cancel"]["enabled"] is True
        assert effective_configuration(session, None, now=now).id == created.id
        assert effective_configuration(session, created.id, now=now) is created
        session.commit()
    listed = ok(client.get(CONFIGURATIONS))["data"]
    assert [c["id"] for c in listed] == [created.id]


def test_offer_for_falls_back_from_custom_reason_to_any() -> None:
    retention = {
        "coupon": "SAVE30",
        "offers": {
            "too_expensive": {"type": "coupon", "coupon": None},
            "*": {"type": "contact", "url": "https://example.com/help"},
        },
    }
    custom = [{"code": "budget_cut", "feedback": "too_expensive", "labels": {"en": "Budget"}, "active": True}]
    assert offer_for(retention, custom, "too_expensive") == {"type": "coupon", "coupon": "SAVE30"}
    assert offer_for(retention, custom, "budget_cut") == {"type": "coupon", "coupon": "SAVE30"}
    assert offer_for(retention, custom, "unused") == {"type": "contact", "url": "https://example.com/help"}
    assert offer_for({"coupon": None, "offers": {"unused": {"type": "coupon"}}}, [], "unused") is None
    assert offer_for({"coupon": None, "offers": {}}, [], "unused") is None
