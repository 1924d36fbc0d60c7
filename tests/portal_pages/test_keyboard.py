"""The cancel flow by keyboard alone: every control reachable with Tab, operated with Enter/Space/arrows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.portal_pages.conftest import Shop

pytestmark = pytest.mark.browser
FOCUSED_NAME = (
    "() => { const e = document.activeElement; "
    "return (e.innerText || e.value || e.getAttribute('aria-label') || '').trim(); }"
)


def tab_to(page: Page, accessible_name: str, limit: int = 40) -> None:
    """Press Tab until the focused element is the one named `accessible_name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_NAME)
        if focused == accessible_name:
            return
    raise AssertionError(f"{accessible_name!r} is not reachable with Tab")


def test_cancel_by_keyboard_only(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page.goto(shop.portal(customer))
    tab_to(page, "Cancel subscription")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Cancel your subscription")).to_be_visible()
    tab_to(page, "Continue to cancel")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Why are you canceling?")).to_be_visible()
    page.keyboard.press("Tab")
    while page.evaluate("() => document.activeElement.type") != "radio":
        page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the first reason
    page.keyboard.press("ArrowDown")  # moves to, and chooses, the second
    expect(page.get_by_label("I need more features", exact=True)).to_be_checked()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused control shows no focus outline"
    tab_to(page, "Cancel subscription")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Subscription canceled")).to_be_visible()
    details = shop.sdk.v1.subscriptions.retrieve(subscription).cancellation_details
    assert details is not None and details.feedback == "missing_features"
