"""Subscriber emails as the SMTP server receives them: headers, both parts, language, working links."""

from __future__ import annotations

import re
from email.utils import parseaddr

from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.billing_context import BillingContext
from tenure.clock import FrozenClock
from tenure.coupons.models import Coupon
from tenure.notifications.models import OutboxMessage
from tenure.retention import flow as flows
from tenure.retention.models import FlowSource
from tenure.retention.offers import Offer
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription
from tests.notifications.conftest import DAY, Mailbox, Shop, links, part, work
from tests.subscriptions.conftest import ok


def follow_portal_link(client: TestClient, path: str) -> str:
    """Open an email's portal link like a browser: a fresh session, then the page it lands on."""
    opened = client.get(path, follow_redirects=False)
    assert opened.status_code == 303, opened.text
    session_url = opened.headers["location"]
    assert re.fullmatch(r"http://tenure\.test/portal/session/[\w-]{43}", session_url)
    landed = client.get(session_url.removeprefix("http://tenure.test"), follow_redirects=False)
    assert landed.status_code == 303
    assert landed.cookies.get("tenure_portal") or "tenure_portal" in landed.headers.get("set-cookie", "")
    return str(landed.headers["location"])


def test_cancellation_confirmation_headers_parts_locale_and_keep_link(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    customer = shop.customer(email="ines@example.com", name="Inès", preferred_locales=["fr-CA"])
    subscription = shop.subscribe(customer)
    ok(
        client.post(
            f"/v1/subscriptions/{subscription}",
            data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "too_expensive"},
        )
    )
    work(runtime)
    [message] = smtp.messages
    assert parseaddr(message["From"]) == ("Acme Billing", "billing@acme.test")
    assert message["To"] == "ines@example.com"
    assert message["Content-Language"] == "fr"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None  # transactional: no unsubscribe
    assert re.fullmatch(r"<emsg_\w+@acme\.test>", message["Message-ID"])
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Votre abonnement Team plan a été résilié"
    text, html = part(message, "plain"), part(message, "html")
    ends = client.get(f"/v1/subscriptions/{subscription}").json()["items"]["data"][0]["current_period_end"]
    for body in (text, html):
        assert "Bonjour Inès," in body
        assert "Vous conservez un accès complet jusqu’au" in body
        assert "Conserver mon abonnement" in body
    assert '<html lang="fr">' in html
    [keep] = {link for link in links(text) if link.startswith("/portal/email-link/")}
    assert keep in html
    assert follow_portal_link(client, keep) == "/portal"
    home = client.get("/portal")
    assert home.status_code == 200 and subscription in home.text
    assert ends > 0


def test_an_undone_cancellation_sends_nothing_and_an_immediate_one_has_no_keep_link(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    customer = shop.customer(preferred_locales=["de"])
    kept = shop.subscribe(customer)
    ok(client.post(f"/v1/subscriptions/{kept}", data={"cancel_at_period_end": "true"}))
    ok(client.post(f"/v1/subscriptions/{kept}", data={"cancel_at_period_end": "false"}))
    ended = shop.subscribe(customer)
    ok(client.delete(f"/v1/subscriptions/{ended}"))
    work(runtime)
    [message] = smtp.messages
    assert message["Subject"] == "Ihr Abonnement Team plan wurde gekündigt"
    text = part(message, "plain")
    assert "Es endete am" in text
    assert not [link for link in links(text) if "email-link" in link]
    with runtime.sessionmaker() as session:
        skipped = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "skipped")).one()
        assert skipped.last_error == "the cancellation was undone before the email went out"


def test_failed_payment_links_to_the_payment_method_page(
    shop: Shop, smtp: Mailbox, runtime: Runtime, clock: FrozenClock, client: TestClient
) -> None:
    ok(
        client.post(
            "/v1/billing_portal/configurations", data={"features[payment_method_update][enabled]": "true"}
        )
    )
    test_clock = shop.test_clock(clock.now())
    customer = shop.customer("pm_card_chargeCustomerFail", preferred_locales=["id"], test_clock=test_clock)
    shop.subscribe(customer, trial_period_days=1)
    shop.advance(test_clock, clock.now() + 2 * DAY)
    work(runtime)
    failed = smtp.of_kind("payment_failed")
    assert len(failed) == 1
    assert failed[0]["Subject"] == "Pembayaran Anda sebesar €20,00 gagal"
    text = part(failed[0], "plain")
    assert "Perbarui metode pembayaran" in text
    [update] = [link for link in links(text) if link.startswith("/portal/email-link/")]
    assert follow_portal_link(client, update) == "/portal/payment-methods"
    assert client.get("/portal/payment-methods").status_code == 200
    # A tampered or expired link opens nothing.
    assert client.get(update[:-3] + "xyz", follow_redirects=False).status_code == 410
    # Without the payment-method feature in the portal, the same link opens the portal home.
    ok(client.post("/v1/billing_portal/configurations", data={"is_default": "true"}))
    assert follow_portal_link(client, update) == "/portal"
    clock.advance(31 * DAY)
    assert client.get(update, follow_redirects=False).status_code == 410


def test_retention_offer_accepted_says_what_changed_and_until_when(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    coupon_id = ok(
        client.post("/v1/coupons", data={"percent_off": 25, "duration": "repeating", "duration_in_months": 3})
    )["id"]
    customer = shop.customer(preferred_locales=["en"])
    subscription_id = shop.subscribe(customer)
    with runtime.sessionmaker() as session:
        subscription = session.scalars(select(Subscription).where(Subscription.id == subscription_id)).one()
        coupon = session.scalars(select(Coupon).where(Coupon.id == coupon_id)).one()
        now = runtime.clock.now()
        flow = flows.start(
            session, subscription, source=FlowSource.PORTAL, locale="en", portal_session_id=None, now=now
        )
        flows.show_offer(flow, Offer("coupon", coupon=coupon), now=now)
        context = BillingContext.of(runtime)
        flows.accept_offer(session, flow, subscription, context=context, now=now)
        flows.accept_offer(session, flow, subscription, context=context, now=now)  # a double click
        session.commit()
    work(runtime)
    [message] = smtp.messages
    assert message["Subject"] == "Your offer has been applied"
    text = part(message, "plain")
    assert "Discount: 25% off" in text
    assert re.search(r"Until: \w+ \d+, \d{4}", text)


def test_renewal_reminders_in_real_time(
    shop: Shop, smtp: Mailbox, runtime: Runtime, clock: FrozenClock, client: TestClient
) -> None:
    """Yearly plans always; monthly ones only with TENURE_REMIND_MONTHLY; the amount after discounts."""
    monthly = shop.subscribe(shop.customer(email="monthly@example.com"), shop.monthly)
    yearly = shop.subscribe(shop.customer(email="yearly@example.com"), shop.yearly)
    ok(client.post("/v1/coupons", data={"id": "TENOFF", "percent_off": 10, "duration": "forever"}))
    ok(client.post(f"/v1/subscriptions/{yearly}", data={"discounts[0][coupon]": "TENOFF"}))

    def period_end(subscription: str) -> int:
        return int(
            client.get(f"/v1/subscriptions/{subscription}").json()["items"]["data"][0]["current_period_end"]
        )

    clock.set(period_end(monthly) - 7 * DAY + 60)
    work(runtime)
    assert smtp.messages == []
    runtime.settings.remind_monthly = True
    work(runtime)
    assert [m["To"] for m in smtp.of_kind("renewal_reminder")] == ["monthly@example.com"]
    runtime.settings.remind_monthly = False

    renews = period_end(yearly)
    clock.set(renews - 8 * DAY)
    work(runtime)
    assert smtp.to("yearly@example.com") == []
    clock.set(renews - 7 * DAY + 60)
    work(runtime)
    work(runtime)
    [reminder] = smtp.to("yearly@example.com")
    text = part(reminder, "plain")
    assert reminder["Subject"].startswith("Your Team plan subscription renews on ")
    assert "Amount: €180.00" in text  # after the 10 % discount
    assert "Discount: Included in the amount above" in text
