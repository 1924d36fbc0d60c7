"""Portal settings without code: saved through the configuration service (its checks, its events)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.portal.models import PortalConfiguration
from tenure.runtime import Runtime
from tests.dashboard.conftest import Business, as_data, changed, csrf_of, form_fields

SETTINGS = "/dashboard/settings/portal"
EIGHT = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]


def configuration(runtime: Runtime) -> PortalConfiguration:
    with runtime.sessionmaker() as session:
        found = session.scalar(select(PortalConfiguration).where(PortalConfiguration.is_default.is_(True)))
        assert found is not None
        session.expunge(found)
        return found


def submit(
    admin: TestClient, html: str, values: dict[str, str | list[str] | None], *, path: str = SETTINGS
) -> str:
    answer = admin.post(path, data=as_data(changed(form_fields(html, "settings"), values)))
    assert answer.status_code in (200, 400), answer.text
    return answer.text


def events(business: Business, kind: str) -> list[dict[str, object]]:
    data: list[dict[str, object]] = business.client.get("/v1/events", params={"type": kind}).json()["data"]
    return data


def test_saving_creates_then_updates_the_default_configuration(
    admin: TestClient, business: Business, runtime: Runtime
) -> None:
    page = admin.get(SETTINGS).text
    assert "created when you save" in page  # no configuration yet: the defaults are shown
    assert all(f'name="reasons" value="{code}" checked' in page for code in EIGHT)
    saved = submit(admin, page, {"reasons": EIGHT[:-1], "mode": "immediately"})
    assert "Settings saved" in saved
    first = configuration(runtime)
    cancel = first.features["subscription_cancel"]
    assert cancel["cancellation_reason"]["options"] == EIGHT[:-1]
    assert cancel["mode"] == "immediately"
    assert len(events(business, "billing_portal.configuration.created")) == 1

    again = submit(admin, saved, {"branding[name]": "Studio", "branding[accent_color]": "#FF0000"})
    assert "Settings saved" in again
    updated = events(business, "billing_portal.configuration.updated")
    assert len(updated) == 1
    assert updated[0]["data"]["previous_attributes"]["tenure_branding"]["name"] is None  # type: ignore[index]
    assert configuration(runtime).branding == {"name": "Studio", "logo_url": None, "accent_color": "#ff0000"}
    # Saving the page unchanged records nothing.
    submit(admin, again, {})
    assert len(events(business, "billing_portal.configuration.updated")) == 1


def test_a_refused_setting_is_shown_next_to_its_field_and_nothing_is_saved(
    admin: TestClient, business: Business, runtime: Runtime
) -> None:
    business.post("/v1/billing_portal/configurations", name="Main")
    page = admin.get(SETTINGS).text
    refused = submit(admin, page, {"proration_behavior": "create_prorations", "reasons": EIGHT[:3]})
    assert "Nothing was saved" in refused
    assert re.search(
        r'Credit the unused time</label>\s*<p class="error" id="error-proration_behavior">', refused
    )
    assert 'value="other" checked' not in refused  # the operator's changes are still on the page
    assert configuration(runtime).features["subscription_cancel"]["cancellation_reason"]["options"] == EIGHT
    bad_colour = submit(admin, page, {"branding[accent_color]": "red"})
    assert 'id="error-branding[accent_color]"' in bad_colour
    bad_offer = submit(admin, page, {"offer[unused][type]": "pause", "offer[unused][value]": "forty"})
    assert 'id="error-offer[unused]"' in bad_offer


def test_a_coupon_created_inline_is_selected_and_the_unsaved_changes_stay(
    admin: TestClient, business: Business, runtime: Runtime
) -> None:
    business.post("/v1/billing_portal/configurations")
    page = admin.get(SETTINGS).text
    empty = submit(
        admin, page, {"reasons": EIGHT[:-1], "new_coupon_kind": "percent"}, path=SETTINGS + "/coupon"
    )
    assert "You must pass either" in empty and '<details id="inline-coupon" open>' in empty

    created = submit(
        admin,
        page,
        {"reasons": EIGHT[:-1], "new_coupon_percent_off": "30", "new_coupon_name": "Stay with us"},
        path=SETTINGS + "/coupon",
    )
    coupon = re.search(r"Coupon (\w+) was created", created)
    assert coupon
    assert f'<option value="{coupon.group(1)}" selected>Stay with us — 30% off, once' in created
    assert 'value="other" checked' not in created and 'value="unused" checked' in created
    assert configuration(runtime).retention["coupon"] is None  # not saved yet
    submit(admin, created, {})
    saved = configuration(runtime)
    assert saved.retention["coupon"] == coupon.group(1)
    assert "other" not in saved.features["subscription_cancel"]["cancellation_reason"]["options"]


def test_custom_reasons_offers_and_texts(admin: TestClient, business: Business, runtime: Runtime) -> None:
    business.post("/v1/billing_portal/configurations")
    page = admin.get(SETTINGS).text
    saved = submit(
        admin,
        page,
        {
            "new_reason[code]": "too_slow",
            "new_reason[en]": "It is too slow",
            "new_reason[feedback]": "low_quality",
            "offer[*][type]": "contact",
            "offer[*][value]": "mailto:help@example.com",
            "offer[too_expensive][type]": "pause",
            "offer[too_expensive][value]": "2",
            "text[fr][headline]": "Votre abonnement",
        },
    )
    assert "Settings saved" in saved
    stored = configuration(runtime)
    assert stored.custom_reasons == [
        {
            "code": "too_slow",
            "labels": {"en": "It is too slow", "fr": None, "de": None, "id": None},
            "feedback": "low_quality",
            "active": True,
        }
    ]
    assert stored.retention["offers"] == {
        "*": {"type": "contact", "url": "mailto:help@example.com"},
        "too_expensive": {"type": "pause", "pause_months": 2},
    }
    assert stored.texts == {"fr": {"headline": "Votre abonnement"}}
    # The custom reason now has its row: relabel it, hide it, give it an offer, drop another offer.
    again = submit(
        admin,
        saved,
        {
            "custom[0][fr]": "C’est trop lent",
            "custom[0][active]": None,
            "offer[too_slow][type]": "extend_trial",
            "offer[too_slow][value]": "14",
            "offer[too_expensive][type]": "",
            "text[fr][headline]": "",
        },
    )
    assert "Settings saved" in again
    stored = configuration(runtime)
    assert stored.custom_reasons[0]["labels"]["fr"] == "C’est trop lent"
    assert stored.custom_reasons[0]["active"] is False
    assert stored.retention["offers"] == {
        "*": {"type": "contact", "url": "mailto:help@example.com"},
        "too_slow": {"type": "extend_trial", "trial_days": 14},
    }
    assert stored.texts == {}
    duplicate = submit(admin, again, {"new_reason[code]": "other", "new_reason[en]": "Other"})
    assert 'id="error-new_reason"' in duplicate


def test_preview_opens_the_portal_of_a_sample_customer(admin: TestClient, business: Business) -> None:
    token = csrf_of(admin.get(SETTINGS).text)
    nobody = admin.post(SETTINGS + "/preview", data={"csrf_token": token, "locale": "fr"})
    assert nobody.status_code == 400
    assert "no customer to preview" in nobody.text
    customer = business.customer(email="sample@example.com")
    business.subscribe(customer)
    opened = admin.post(
        SETTINGS + "/preview", data={"csrf_token": token, "locale": "fr"}, follow_redirects=False
    )
    assert opened.status_code == 303
    assert opened.headers["location"].startswith("/portal/session/")
    with TestClient(business.client.app) as customer_browser:
        portal = customer_browser.get(opened.headers["location"])
    assert portal.status_code == 200
    assert '<html lang="fr">' in portal.text
    assert "sample@example.com" in portal.text
