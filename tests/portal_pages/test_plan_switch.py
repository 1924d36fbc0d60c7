"""Plan switch in the portal: the configured prices, the amounts after the switch, prorations per
the configuration, deep links, isolation and CSRF."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import stripe
from playwright.sync_api import Page, expect

from tenure.web.i18n import format_money
from tests.portal_pages.conftest import Shop, shoot

pytestmark = pytest.mark.browser


class Plans:
    """The shop's monthly prices, plus a yearly one and one in another currency."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.product = str(shop.sdk.v1.prices.retrieve(shop.monthly).product)
        self.yearly = shop.sdk.v1.prices.create(
            {
                "product": self.product,
                "unit_amount": 20000,
                "currency": "eur",
                "recurring": {"interval": "year"},
            }
        ).id
        self.dollars = shop.sdk.v1.prices.create(
            {
                "product": self.product,
                "unit_amount": 2500,
                "currency": "usd",
                "recurring": {"interval": "month"},
            }
        ).id

    def configuration(self, proration_behavior: str) -> str:
        prices = [self.shop.cheaper, self.shop.monthly, self.yearly, self.dollars]
        return self.shop.sdk.v1.billing_portal.configurations.create(
            {
                "features": {
                    "subscription_update": {
                        "enabled": True,
                        "default_allowed_updates": ["price"],
                        "products": [{"product": self.product, "prices": prices}],
                        "proration_behavior": proration_behavior,
                    }
                }
            }
        ).id

    def subscribe(self, customer: str, price: str) -> str:
        return self.shop.sdk.v1.subscriptions.create({"customer": customer, "items": [{"price": price}]}).id


@pytest.fixture
def plans(shop: Shop) -> Plans:
    return Plans(shop)


def _csrf(page: Page, url: str) -> str:
    return page.request.get(url).text().split('name="csrf_token" value="')[1].split('"')[0]


def _price(shop: Shop, subscription: str) -> str:
    item: Any = shop.sdk.v1.subscriptions.retrieve(subscription)["items"]["data"][0]
    return str(item["price"]["id"])


def test_switch_in_french_shows_localized_amounts_and_prorates(page: Page, shop: Shop, plans: Plans) -> None:
    customer = shop.customer(locales=["fr"])
    subscription = plans.subscribe(customer, shop.cheaper)
    page.goto(shop.portal(customer, configuration=plans.configuration("create_prorations")))
    page.locator(f"#{subscription}").get_by_role("link", name="Changer de formule").click()
    expect(page.locator("h1")).to_have_text("Changer de formule")
    options = page.locator("fieldset .choice")
    expect(options).to_have_count(2)  # the monthly and yearly euro prices; not the current, not dollars
    expect(options.nth(0)).to_contain_text(f"{format_money(2000, 'eur', 'fr')} par mois")
    expect(options.nth(1)).to_contain_text(f"{format_money(20000, 'eur', 'fr')} par an")
    shoot(page, "fr-plan-choose")
    page.locator(f"#price-{shop.monthly}").check()
    page.get_by_role("button", name="Continuer").click()

    expect(page.locator("h1")).to_have_text("Confirmer votre nouvelle formule")
    # 10 € of the current month credited, 20 € charged for it, and the next month at 20 €.
    expect(page.locator("#next-payment")).to_contain_text(format_money(3000, "eur", "fr"))
    expect(page.locator("#due-today")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("temps non utilisé")
    shoot(page, "fr-plan-confirm")
    page.get_by_role("button", name="Confirmer le changement").click()

    expect(page.locator(".notice")).to_have_text("Votre formule a été modifiée.")
    expect(page.locator(f"#{subscription}")).to_contain_text(f"{format_money(2000, 'eur', 'fr')} par mois")
    shoot(page, "fr-plan-done")
    assert _price(shop, subscription) == shop.monthly
    assert shop.sdk.v1.invoices.create_preview({"subscription": subscription}).amount_due == 3000
    events = shop.updated_events(subscription)
    assert len(events) == 1 and "items" in events[0].data.previous_attributes


def test_switch_to_a_yearly_price_without_prorations(page: Page, shop: Shop, plans: Plans) -> None:
    customer = shop.customer()
    subscription = plans.subscribe(customer, shop.monthly)
    page.goto(shop.portal(customer, configuration=plans.configuration("none")))
    base = page.url.split("/portal")[0]
    page.goto(f"{base}/portal/subscriptions/{subscription}/plan")
    page.get_by_label("Studio · €200.00 per year").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#due-today")).to_have_text("€200.00")
    expect(page.locator("main")).to_contain_text("A new billing period starts today")
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.locator(".notice")).to_have_text("Your plan has been changed.")
    after = shop.sdk.v1.subscriptions.retrieve(subscription, {"expand": ["latest_invoice"]})
    assert _price(shop, subscription) == plans.yearly
    invoice = after.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.amount_paid) == ("paid", 20000)  # no credit for the month: `none`


def test_deep_link_confirms_with_a_hosted_confirmation(page: Page, shop: Shop, plans: Plans) -> None:
    customer = shop.customer()
    subscription = plans.subscribe(customer, shop.monthly)
    item = shop.sdk.v1.subscriptions.retrieve(subscription)["items"]["data"][0]["id"]
    url = shop.portal(
        customer,
        configuration=plans.configuration("create_prorations"),
        flow_data={
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": subscription,
                "items": [{"id": item, "price": shop.cheaper}],
            },
            "after_completion": {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "Enjoy Studio Lite!"},
            },
        },
    )
    page.goto(url)
    expect(page).to_have_url(f"{url.split('/portal')[0]}/portal/subscriptions/{subscription}/plan")
    expect(page.locator("#new-plan")).to_contain_text("Studio Lite")
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.locator(".custom-message")).to_have_text("Enjoy Studio Lite!")
    assert _price(shop, subscription) == shop.cheaper
    # Back to the deep link: the switch is done, so the choice shows; the same form again changes nothing.
    page.go_back()
    expect(page.locator("h1")).to_have_text("Change your plan")
    base = url.split("/portal")[0]
    token = _csrf(page, f"{base}/portal/subscriptions/{subscription}/plan?price={shop.monthly}")
    again = page.request.post(
        f"{base}/portal/subscriptions/{subscription}/plan",
        form={"csrf_token": token, "price": shop.cheaper},
        max_redirects=0,
    )
    assert again.status == 303
    assert _price(shop, subscription) == shop.cheaper
    assert len(shop.updated_events(subscription)) == 1


def test_the_subscription_update_deep_link_lands_on_the_choice(page: Page, shop: Shop, plans: Plans) -> None:
    customer = shop.customer(locales=["id"])
    subscription = plans.subscribe(customer, shop.monthly)
    url = shop.portal(
        customer,
        configuration=plans.configuration("create_prorations"),
        flow_data={"type": "subscription_update", "subscription_update": {"subscription": subscription}},
    )
    page.goto(url)
    expect(page.locator("h1")).to_have_text("Ubah paket Anda")
    expect(page.locator("fieldset .choice")).to_have_count(2)
    shoot(page, "id-plan-choose")


def test_others_subscriptions_are_not_found_and_posts_need_csrf(page: Page, shop: Shop, plans: Plans) -> None:
    configuration = plans.configuration("create_prorations")
    theirs = plans.subscribe(shop.customer(email="eve@example.com"), shop.monthly)
    me = shop.customer()
    mine = plans.subscribe(me, shop.monthly)
    page.goto(shop.portal(me, configuration=configuration))
    base = page.url.split("/portal")[0]
    for path in (f"{theirs}/plan", f"{theirs}/plan?price={shop.cheaper}"):
        response = page.goto(f"{base}/portal/subscriptions/{path}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    token = _csrf(page, f"{base}/portal/subscriptions/{mine}/plan?price={shop.cheaper}")
    posted = page.request.post(
        f"{base}/portal/subscriptions/{theirs}/plan", form={"csrf_token": token, "price": shop.cheaper}
    )
    assert posted.status == 404
    refused = page.request.post(f"{base}/portal/subscriptions/{mine}/plan", form={"price": shop.cheaper})
    assert refused.status == 403
    assert _price(shop, mine) == _price(shop, theirs) == shop.monthly

    # A price the configuration does not offer is not found either.
    response = page.goto(f"{base}/portal/subscriptions/{mine}/plan?price={plans.dollars}")
    assert response is not None and response.status == 404

    shop.sdk.v1.subscriptions.update(mine, {"cancel_at_period_end": True})
    response = page.goto(f"{base}/portal/subscriptions/{mine}/plan")
    assert response is not None and response.status == 409
    expect(page.get_by_role("heading", name="This plan cannot be changed")).to_be_visible()


def test_a_double_submitted_switch_changes_the_plan_once(page: Page, shop: Shop, plans: Plans) -> None:
    customer = shop.customer()
    subscription = plans.subscribe(customer, shop.monthly)
    page.goto(shop.portal(customer, configuration=plans.configuration("always_invoice")))
    base = page.url.split("/portal")[0]
    url = f"{base}/portal/subscriptions/{subscription}/plan"
    token = _csrf(page, f"{url}?price={shop.cheaper}")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}

    def submit() -> int:
        with httpx.Client(cookies=cookies) as client:
            return client.post(url, data={"csrf_token": token, "price": shop.cheaper}).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda _: submit(), range(2)))
    assert statuses == [303, 303]
    assert _price(shop, subscription) == shop.cheaper
    assert len(shop.updated_events(subscription)) == 1
    invoices = shop.sdk.v1.invoices.list({"subscription": subscription}).data
    assert len(invoices) == 2  # the first one, and one for the prorations: `always_invoice`
