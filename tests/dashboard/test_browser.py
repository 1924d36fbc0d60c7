"""The dashboard in a real browser (Debian's Chromium through Playwright), against a live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import Browser, Page, expect

from tenure.config import Settings
from tests.dashboard.conftest import Shop
from tests.portal_pages.conftest import shoot

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "ops@example.com", "a long staff password"
# The elements that stick out to the right (for the failure message).
WIDER_THAN_THE_SCREEN = """
[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 8).map(e => e.tagName + "." + e.className + "#" + e.id)
"""
COMMENT = "<script>alert(1)</script> Your price went up twice this year, so I am moving to a cheaper tool."


def staff_create(settings: Settings, email: str, password: str, role: str = "admin") -> None:
    """`tenure staff create`, as an operator runs it, against the store the live server uses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update(TENURE_DATABASE_URL=settings.effective_database_url, TENURE_DATA_DIR=str(settings.data_dir))
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenure",
            "staff",
            "create",
            "--email",
            email,
            "--password",
            password,
            "--role",
            role,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert f"{role} {email}" in created.stdout


def sign_in(page: Page, base: str, email: str = EMAIL, password: str = PASSWORD) -> None:
    page.goto(base + "/dashboard/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_find_why_a_customer_canceled(page: Page, shop: Shop, settings: Settings, live_server: str) -> None:
    staff_create(settings, EMAIL, PASSWORD)
    shop.sdk.v1.billing_portal.configurations.create(
        {"features": {"subscription_cancel": {"mode": "immediately"}}}
    )
    customer = shop.customer(email="ada@example.com")
    subscription = shop.subscribe(customer)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # The customer cancels in the portal and types a script into the comment.
    page.goto(shop.portal(customer))
    page.locator(f"#{subscription} a.danger").click()
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_label("It’s too expensive", exact=True).check()
    page.get_by_label("Anything else you would like to tell us? (optional)").fill(COMMENT)
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_text("Your subscription has been canceled.")).to_be_visible()

    # The operator finds it: Subscriptions > Canceled, the reason in the row's tooltip.
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Subscriptions").click()
    page.get_by_role("navigation", name="Subscription status").get_by_role("link", name="Canceled").click()
    row = page.locator(f"#row-{subscription}")
    icon = row.get_by_role("button", name="Cancellation reason")
    tip = row.get_by_role("tooltip")
    expect(tip).to_be_hidden()
    icon.hover()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("It’s too expensive")
    expect(tip).to_contain_text("“<script>alert(1)</script> Your price went up")
    shoot(page, "dashboard-1-canceled-tooltip")
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    page.get_by_role("button", name="Apply").focus()
    for _ in range(8):  # keyboard only: Tab until the info button has focus
        page.keyboard.press("Tab")
        if icon.evaluate("node => node === document.activeElement"):
            break
    expect(icon).to_be_focused()
    expect(tip).to_be_visible()

    # The detail page: reason, comment (as text), the customer, the event's JSON.
    row.get_by_role("link", name="ada@example.com").click()
    expect(page.locator("#cancellation-reason")).to_contain_text("It’s too expensive")
    expect(page.locator("#cancellation-comment")).to_have_text(COMMENT)
    expect(page.locator("#cancellation-source")).to_contain_text("Customer portal")
    expect(page.locator("#customer-email")).to_have_text("ada@example.com")
    event = json.loads(page.locator("pre.json").first.inner_text())
    assert event["type"] == "customer.subscription.updated"
    assert event["data"]["object"]["id"] == subscription
    assert event["data"]["object"]["cancellation_details"] == {
        "comment": COMMENT,
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }
    assert event["id"] == shop.updated_events(subscription)[0].id
    shoot(page, "dashboard-2-subscription-detail")
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('script').length") == 0


def test_portal_settings_show_in_the_cancel_page_at_once(
    page: Page, shop: Shop, settings: Settings, live_server: str
) -> None:
    staff_create(settings, EMAIL, PASSWORD)
    customer = shop.customer(email="bo@example.com")
    subscription = shop.subscribe(customer)
    sign_in(page, live_server)
    page.get_by_role("link", name="Portal settings").click()

    page.locator("#inline-coupon summary").click()
    page.get_by_label("Name (shown to customers)").fill("Stay with us")
    page.get_by_label("Percent off").fill("30")
    page.get_by_role("button", name="Create coupon").click()
    notice = page.locator("#settings-notice")
    expect(notice).to_contain_text("was created and selected")
    coupon = re.search(r"Coupon (\w+) was created", notice.inner_text())
    assert coupon
    page.get_by_label("Retention coupon").select_option(coupon.group(1))
    page.get_by_label("Other reason", exact=True).uncheck()
    shoot(page, "dashboard-3-portal-settings")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-notice")).to_contain_text("Settings saved")
    expect(page.get_by_label("Other reason", exact=True)).not_to_be_checked()

    # "Preview as a customer" opens the portal in a new tab.
    with page.context.expect_page() as preview:
        page.get_by_role("button", name="Preview as a customer").click()
    expect(preview.value.locator("h1")).to_have_text("Manage your subscription")
    preview.value.close()

    # The customer's cancel page reflects it at once: no "Other", and the coupon offered.
    page.goto(shop.portal(customer))
    page.locator(f"#{subscription} a.danger").click()
    page.get_by_role("button", name="Continue to cancel").click()
    labels = page.locator("fieldset label").all_inner_texts()
    assert "Other reason" not in labels
    assert len(labels) == 7
    page.get_by_label("It’s too expensive", exact=True).check()
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator(".offer")).to_contain_text("30% off")
    shoot(page, "dashboard-4-offer-from-settings")
    configurations = shop.sdk.v1.billing_portal.configurations.list({"is_default": True}).data
    assert configurations[0]["tenure_retention"]["coupon"] == coupon.group(1)


def test_an_analyst_cannot_open_settings_keys_or_webhooks(
    page: Page, shop: Shop, settings: Settings, live_server: str
) -> None:
    staff_create(settings, "analyst@example.com", PASSWORD, role="analyst")
    sign_in(page, live_server, "analyst@example.com")
    nav = page.get_by_role("navigation", name="Dashboard")
    expect(nav.get_by_role("link", name="Subscriptions")).to_be_visible()
    for name in ("Portal settings", "Webhooks", "API keys", "Email outbox"):
        expect(nav.get_by_role("link", name=name)).to_have_count(0)
    for path in ("/dashboard/settings/portal", "/dashboard/api-keys", "/dashboard/webhooks"):
        response = page.goto(live_server + path)
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", name="You cannot do this")).to_be_visible()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_usable_on_a_phone_and_a_laptop(
    browser: Browser, shop: Shop, settings: Settings, live_server: str, width: int, height: int
) -> None:
    staff_create(settings, EMAIL, PASSWORD)
    customer = shop.customer(email="a-rather-long-address-for-a-small-screen@example.com")
    subscription = shop.subscribe(customer)
    shop.sdk.v1.subscriptions.cancel(
        subscription, {"cancellation_details": {"feedback": "unused", "comment": "Bye"}}
    )
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server)
        for path in (
            "/dashboard",
            "/dashboard/subscriptions?tab=canceled",
            f"/dashboard/subscriptions/{subscription}",
            f"/dashboard/customers/{customer}",
            "/dashboard/settings/portal",
            "/dashboard/coupons",
        ):
            page.goto(live_server + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            wide = page.evaluate(WIDER_THAN_THE_SCREEN)
            assert overflow <= 1, (path, overflow, wide)
            shoot(page, f"dashboard-{width}-{path.strip('/').replace('/', '-').replace('?', '-')}")
        page.goto(live_server + "/dashboard/subscriptions?tab=canceled")
        icon = page.get_by_role("button", name="Cancellation reason")
        icon.focus()
        tip = page.get_by_role("tooltip")
        expect(tip).to_be_visible()
        box, viewport = tip.bounding_box(), page.viewport_size
        assert box is not None and viewport is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    finally:
        context.close()
