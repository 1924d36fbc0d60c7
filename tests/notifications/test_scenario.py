"""A test-clock scenario: the trial-ending notice, failed-payment emails and the renewal reminder
arrive at their moments, once each, even when the worker restarts or dies mid-send."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.clock import FrozenClock
from tenure.notifications import delivery
from tenure.notifications.models import OutboxMessage
from tenure.runtime import Runtime
from tests.notifications.conftest import DAY, Mailbox, Shop, links, part, restarted, work

T0 = 1_798_761_600  # 2027-01-01 00:00 UTC


def kinds(smtp: Mailbox) -> list[str]:
    return [str(m["X-Tenure-Kind"]) for m in smtp.messages]


def test_clock_scenario_once_each_across_restarts(
    shop: Shop, smtp: Mailbox, runtime: Runtime, clock: FrozenClock, client: TestClient
) -> None:
    test_clock = shop.test_clock(T0)
    yearly_customer = shop.customer(
        test_clock=test_clock, email="yearly@example.com", preferred_locales=["de"]
    )
    yearly = shop.subscribe(yearly_customer, shop.yearly)
    trial_customer = shop.customer(
        "pm_card_chargeCustomerFail",
        test_clock=test_clock,
        email="trial@example.com",
        preferred_locales=["fr"],
    )
    shop.subscribe(trial_customer, shop.monthly, trial_period_days=14)
    work(runtime)
    assert smtp.messages == []

    # Day 10: the trial ends on day 14, its notice is due on day 11.
    shop.advance(test_clock, T0 + 10 * DAY)
    work(runtime)
    assert smtp.messages == []

    shop.advance(test_clock, T0 + 12 * DAY)
    work(restarted(runtime))
    work(restarted(runtime))
    assert kinds(smtp) == ["trial_ending"]
    trial = smtp.messages[0]
    assert trial["To"] == "trial@example.com"
    assert trial["Subject"] == "Votre période d’essai se termine le 15 janvier 2027"
    assert "20,00 €" in part(trial, "plain")

    # Day 14: the first charge fails; the worker claims the email, then dies before sending it.
    shop.advance(test_clock, T0 + 14 * DAY + 3600)
    with runtime.sessionmaker() as session:
        claimed = delivery.claim(session, now=clock.now(), limit=10)
        session.commit()
    assert len(claimed) == 1
    work(restarted(runtime))  # the lease still holds: nothing is sent twice at once
    assert kinds(smtp) == ["trial_ending"]
    clock.advance(delivery.LEASE_SECONDS + 1)
    work(restarted(runtime))
    work(restarted(runtime))
    assert kinds(smtp) == ["trial_ending", "payment_failed"]
    failed = smtp.messages[1]
    assert failed["Subject"] == "Votre paiement de 20,00 € a échoué"
    text = part(failed, "plain")
    assert "18 janvier 2027" in text  # the next attempt, 3 days after the failure
    assert any(link.startswith("/portal/email-link/") for link in links(text))

    # Each retry that fails is its own cause: one email each.
    shop.advance(test_clock, T0 + 17 * DAY + 7200)
    work(restarted(runtime))
    assert kinds(smtp) == ["trial_ending", "payment_failed", "payment_failed"]

    # The yearly renewal (2028-01-01) is reminded 7 days before, once.
    shop.advance(test_clock, T0 + 357 * DAY)
    work(runtime)
    assert "renewal_reminder" not in kinds(smtp)
    shop.advance(test_clock, T0 + 359 * DAY)
    work(restarted(runtime))
    work(restarted(runtime))
    reminders = smtp.of_kind("renewal_reminder")
    assert len(reminders) == 1
    assert reminders[0]["To"] == "yearly@example.com"
    assert reminders[0]["Subject"] == "Ihr Abonnement Team plan verlängert sich am 1. Januar 2028"
    assert "200,00 €" in part(reminders[0], "plain")
    shop.advance(test_clock, T0 + 366 * DAY)
    work(runtime)
    assert len(smtp.of_kind("renewal_reminder")) == 1
    assert kinds(smtp).count("trial_ending") == 1
    assert client.get(f"/v1/subscriptions/{yearly}").json()["status"] == "active"
    with runtime.sessionmaker() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.pk)).all()
        assert all(row.status == "sent" for row in rows if row.kind != "renewal_reminder" or row.to_address)
        assert len({row.cause_key for row in rows}) == len(rows)
