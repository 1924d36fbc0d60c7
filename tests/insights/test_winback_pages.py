"""Win-back in a real browser: from the insights page (charts) to a campaign sent to a segment, whose
emails reach the outbox one per customer, each written in that customer's language."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tenure.config import Settings
from tenure.notifications.delivery import outbox_box, parse_raw, send_due
from tenure.notifications.models import EmailCampaign, MessageStatus, OutboxMessage
from tenure.runtime import Runtime
from tests.dashboard.conftest import Business
from tests.dashboard.test_browser import sign_in, staff_create
from tests.portal_pages.conftest import shoot

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "growth@example.com", "bring them all back"
# What each language's default win-back email says (the winback catalogs), and the code's label.
WORDS = {
    "en": ("Come back to Billing", "It has been a while since you left Billing", "Your code"),
    "fr": ("Revenez chez Billing", "Cela fait un moment que vous avez quitté Billing", "Votre code"),
    "de": ("Kommen Sie zurück zu Billing", "Es ist eine Weile her, dass Sie Billing", "Ihr Code"),
    "id": ("Kembalilah ke Billing", "Sudah cukup lama sejak Anda meninggalkan Billing", "Kode Anda"),
}


def test_send_a_win_back_campaign_from_the_insights_page(
    page: Page, live_server: str, settings: Settings, client: TestClient, runtime: Runtime
) -> None:
    business = Business(client)
    targets: dict[str, str] = {}  # customer -> the language of their emails
    people = [
        ("ana@example.com", ["fr"], "too_expensive"),
        ("ben@example.com", ["de-AT"], None),
        ("cai@example.com", ["id"], "too_expensive"),
        ("dee@example.com", [], "too_expensive"),
        ("eve@example.com", ["fr"], "unused"),  # another reason: not in the segment
    ]
    for email, locales, feedback in people:
        customer = business.customer(email=email)
        if locales:
            business.post(f"/v1/customers/{customer}", **{"preferred_locales[0]": locales[0]})
        business.cancel(business.subscribe(customer), feedback=feedback)
        if feedback != "unused":
            targets[customer] = locales[0][:2] if locales else "en"
    coupon = business.post("/v1/coupons", percent_off="25", duration="once")["id"]
    business.post(
        "/v1/promotion_codes",
        code="WELCOMEBACK",
        **{"promotion[type]": "coupon", "promotion[coupon]": coupon},
    )

    staff_create(settings, EMAIL, PASSWORD)
    sign_in(page, live_server, EMAIL, PASSWORD)
    page.get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", name="Cancellation insights")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("svg.chart rect").first).to_be_visible()
    shoot(page, "dashboard-insights-before-winback")
    page.get_by_role("link", name="Win customers back").click()
    expect(page.get_by_role("heading", name="Win-back", exact=True)).to_be_visible()

    page.get_by_label("It’s too expensive").check()
    page.get_by_label("No reason given").check()
    page.get_by_role("button", name="Show customers").click()
    expect(page.locator("#figure-segment .value")).to_have_text(str(len(targets)))
    expect(page.locator("#segment-table tbody tr")).to_have_count(len(targets))
    page.get_by_label("Campaign name").fill("Spring win-back")
    page.get_by_label("Promotion code").fill("WELCOMEBACK")
    page.get_by_label("Resubscribe link", exact=True).fill("https://shop.example/pricing")
    french = page.get_by_role("group", name="French")
    expect(french.get_by_label("Subject")).to_have_value(WORDS["fr"][0])
    shoot(page, "dashboard-winback-form")
    page.get_by_role("button", name=f"Send to {len(targets)} customers").click()
    expect(page.locator("#sent-notice")).to_contain_text(f"queued: {len(targets)} recipients, 0 suppressed")
    expect(page.locator("#campaigns-table tbody tr")).to_have_count(1)
    expect(page.locator('#campaigns-table [data-figure="recipients"]')).to_have_text(str(len(targets)))
    shoot(page, "dashboard-winback-sent")

    # The worker's email pass composes each row in its customer's language.
    send_due(runtime)
    box = outbox_box(runtime.settings)
    with runtime.sessionmaker() as session:
        campaign = session.scalars(select(EmailCampaign)).one()
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.campaign_id == campaign.id)))
        assert sorted(row.customer_id or "" for row in rows) == sorted(targets)
        for row in rows:
            language = targets[str(row.customer_id)]
            subject, opening, code_label = WORDS[language]
            assert (row.status, row.locale, row.subject) == (MessageStatus.SENT, language, subject)
            assert row.raw is not None
            text_part = parse_raw(box.decrypt(row.raw)).get_body(preferencelist=("plain",))
            assert text_part is not None
            text = str(text_part.get_content())
            assert opening in text and f"{code_label}: WELCOMEBACK" in text
            assert "https://shop.example/pricing" in text
    page.get_by_role("link", name="Email outbox").click()
    for language in set(targets.values()):
        expect(page.locator("#messages").get_by_text(WORDS[language][0])).to_have_count(
            sum(1 for value in targets.values() if value == language)
        )
