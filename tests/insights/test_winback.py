"""Win-back: the segment (count, rows, CSV), campaigns, and reactivations credited by last touch,
each compared with a computation made here from what the test itself did (not from Tenure's SQL).

The business is generated (several reasons, plans, currencies and languages) and lived through the
API on a frozen clock; reactivations go through the real hosted checkout page.
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.clock import FrozenClock
from tenure.config import Settings
from tenure.insights import winback
from tenure.notifications.delivery import send_due
from tenure.notifications.models import EmailCampaign, MessageStatus, OutboxMessage
from tenure.retention.reasons import LABELS, STANDARD_REASONS
from tenure.runtime import Runtime
from tenure.subscriptions.cancel import cancel_now
from tenure.subscriptions.common import get_subscription
from tenure.subscriptions.models import CancellationReason
from tests.checkout.conftest import card_form, create_session
from tests.checkout.conftest import csrf_of as checkout_csrf
from tests.dashboard.conftest import ADMIN, ANALYST, as_data, changed, form_fields, sign_in
from tests.subscriptions.conftest import ok

DAY = 86_400
T0 = 1_772_409_600  # 2026-03-02 00:00 UTC: every subscription starts here
NONE = "unspecified"
# Canceled by Tenure itself: involuntary churn, its own categories (never NONE).
FAILED, DISPUTED = "payment_failed", "payment_disputed"
LABEL = {NONE: "No reason given", FAILED: "Payment failed", DISPUTED: "Payment disputed"}
PAGE = "/dashboard/insights/winback"
LANGUAGE_OF = {"en": "en", "fr": "fr", "de": "de", "id": "id", "fr-CA": "fr"}  # "es": not spoken


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    built = Runtime.build(settings, clock=clock)
    yield built
    built.close()


@contextmanager
def staff_browser(app: FastAPI, credentials: tuple[str, str]) -> Iterator[TestClient]:
    """Signed in now (the frozen clock moves by weeks: yesterday's dashboard session has expired)."""
    with TestClient(app) as browser:
        assert sign_in(browser, *credentials).status_code == 303
        yield browser


def day_iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).date().isoformat()


def half_away(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- the business, and what the test knows about it -----------------------------------------------


@dataclass(frozen=True)
class Plan:
    price: str
    currency: str
    mrr: int


@dataclass(frozen=True)
class Canceled:
    subscription: str
    canceled_at: int
    feedback: str
    plan: Plan


@dataclass
class Person:
    id: str
    email: str | None
    name: str
    language: str  # the language its emails must be composed in
    cancellations: list[Canceled] = field(default_factory=list)
    current: bool = False
    unsubscribed: bool = False
    on_test_clock: bool = False

    def last_canceled(self) -> Canceled:
        return max(self.cancellations, key=lambda c: c.canceled_at)


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    reasons: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()

    def matches(self, canceled: Canceled) -> bool:
        return (
            self.start <= canceled.canceled_at < self.end
            and (not self.reasons or canceled.feedback in self.reasons)
            and (not self.plans or canceled.plan.price in self.plans)
        )

    def query(self) -> list[tuple[str, str]]:
        pairs = [("from", day_iso(self.start)), ("to", day_iso(self.end - DAY))]
        return pairs + [("reason", r) for r in self.reasons] + [("plan", p) for p in self.plans]

    def service(self) -> Any:
        return winback.segment_for(
            start=self.start, end=self.end, reasons=list(self.reasons), prices=list(self.plans)
        )


def expected_rows(people: list[Person], segment: Segment) -> list[tuple[Person, Canceled]]:
    """Who the segment must hold, each with their latest matching cancellation, latest first."""
    found = []
    for person in people:
        if person.email is None or person.current or person.on_test_clock:
            continue
        matching = [c for c in person.cancellations if segment.matches(c)]
        if matching:
            found.append((person, max(matching, key=lambda c: c.canceled_at)))
    return sorted(found, key=lambda pair: (-pair[1].canceled_at, pair[0].id))


def expected_csv(rows: list[tuple[Person, Canceled]]) -> list[list[str]]:
    lines = [
        [
            "customer",
            "email",
            "name",
            "locale",
            "unsubscribed",
            "subscription",
            "canceled_at",
            "feedback",
            "reason",
            "plan",
            "mrr_lost_minor",
            "currency",
        ]
    ]
    for person, canceled in rows:
        moment = datetime.fromtimestamp(canceled.canceled_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        label = LABEL[canceled.feedback] if canceled.feedback in LABEL else LABELS[canceled.feedback]["en"]
        lines.append(
            [
                person.id,
                str(person.email),
                person.name,
                person.language,
                "yes" if person.unsubscribed else "no",
                canceled.subscription,
                moment,
                canceled.feedback,
                label,
                canceled.plan.price,
                str(canceled.plan.mrr),
                canceled.plan.currency,
            ]
        )
    return lines


class World:
    """A generated business lived through the API; `people` is the test's own record of it."""

    def __init__(self, client: TestClient, clock: FrozenClock, runtime: Runtime) -> None:
        self.client, self.clock, self.runtime = client, clock, runtime
        product = ok(client.post("/v1/products", data={"name": "Studio"}))["id"]
        self.monthly = self._price(product, 2000, "eur", "month", "Monthly", Decimal(2000))
        self.yearly = self._price(product, 25000, "eur", "year", "Yearly", Decimal(25000) / 12)
        self.dollars = self._price(product, 900, "usd", "month", "Monthly USD", Decimal(900))
        self.people: list[Person] = []

    def _price(
        self, product: str, amount: int, currency: str, interval: str, nickname: str, mrr: Decimal
    ) -> Plan:
        data = {
            "product": product,
            "unit_amount": amount,
            "currency": currency,
            "nickname": nickname,
            "recurring[interval]": interval,
        }
        return Plan(ok(self.client.post("/v1/prices", data=data))["id"], currency, half_away(mrr))

    def person(
        self, index: int, locales: list[str], *, email: bool = True, clock: str | None = None
    ) -> Person:
        data: dict[str, Any] = {
            "name": f"Customer {index}",
            "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa",
        }
        if email:
            data["email"] = f"c{index}@example.com"
        if clock:
            data["test_clock"] = clock
        data.update({f"preferred_locales[{i}]": tag for i, tag in enumerate(locales)})
        created = ok(self.client.post("/v1/customers", data=data))
        language = next((LANGUAGE_OF[tag] for tag in locales if tag in LANGUAGE_OF), "en")
        person = Person(created["id"], created["email"], data["name"], language, on_test_clock=bool(clock))
        self.people.append(person)
        return person

    def subscribe(self, person: Person, plan: Plan) -> str:
        data = {"customer": person.id, "items[0][price]": plan.price}
        return str(ok(self.client.post("/v1/subscriptions", data=data))["id"])

    def cancel(self, person: Person, subscription: str, plan: Plan, feedback: str, at: int) -> None:
        self.clock.set(at)
        if feedback in (FAILED, DISPUTED):  # what dunning (or a dispute) does when it gives up
            with self.runtime.sessionmaker() as session:
                found = get_subscription(session, subscription)
                cancel_now(session, found, now=at, reason=CancellationReason(feedback))
                session.commit()
            person.cancellations.append(Canceled(subscription, at, feedback, plan))
            return
        params = {} if feedback == NONE else {"cancellation_details[feedback]": feedback}
        canceled = ok(self.client.delete(f"/v1/subscriptions/{subscription}", params=params))
        assert canceled["canceled_at"] == at
        person.cancellations.append(Canceled(subscription, at, feedback, plan))


@dataclass
class Cast:
    """The people the attribution scenario needs, whatever the random part generated."""

    early_features: Person  # canceled day 2, missing features
    early_pricey: Person  # day 3, too expensive (yearly)
    early_silent: Person  # day 4, no reason (USD)
    early_service: Person  # day 6, customer service
    unsubscribed: Person  # day 8, too expensive, then unsubscribed
    late_pricey: Person  # day 22, too expensive
    late_unused: Person  # day 23, unused


def build(client: TestClient, clock: FrozenClock, runtime: Runtime) -> tuple[World, Cast]:
    world = World(client, clock, runtime)
    rng = random.Random(20260302)
    plans = [world.monthly, world.yearly, world.dollars]
    languages = [["en"], ["fr"], ["de"], ["id"], ["fr-CA"], [], ["es", "de"]]
    cancels: list[tuple[int, Person, str, Plan, str]] = []

    def canceling(person: Person, plan: Plan, feedback: str, at: int) -> None:
        cancels.append((at, person, world.subscribe(person, plan), plan, feedback))

    fixed = [
        (2, world.monthly, "missing_features"),
        (3, world.yearly, "too_expensive"),
        (4, world.dollars, NONE),
        (6, world.monthly, "customer_service"),
        (8, world.monthly, "too_expensive"),
        (22, world.monthly, "too_expensive"),
        (23, world.yearly, "unused"),
    ]
    cast_people = []
    for index, (day, plan, feedback) in enumerate(fixed):
        person = world.person(index, languages[index % len(languages)])
        canceling(person, plan, feedback, T0 + day * DAY + 3600 * index)
        cast_people.append(person)
    reasons = [*STANDARD_REASONS, NONE]
    for index in range(len(fixed), len(fixed) + 18):
        person = world.person(index, languages[index % len(languages)])
        at = T0 + DAY + rng.randrange(26 * DAY)
        canceling(person, rng.choice(plans), rng.choice(reasons), at)
    # Two canceled subscriptions: the row shows the latest one the segment matches.
    twice = world.person(90, ["de"])
    canceling(twice, world.monthly, "too_complex", T0 + 2 * DAY + 600)
    canceling(twice, world.yearly, "unused", T0 + 10 * DAY + 600)
    # Canceled by Tenure: a failed payment (USD, French) and a dispute (German).
    canceling(world.person(95, ["fr"]), world.dollars, FAILED, T0 + 7 * DAY + 1200)
    canceling(world.person(96, ["de"]), world.monthly, DISPUTED, T0 + 12 * DAY + 1200)
    # Came back through the API: current again, so in no segment.
    returned = world.person(91, ["fr"])
    canceling(returned, world.monthly, "too_expensive", T0 + 3 * DAY + 900)
    # Scheduled to cancel at period end: still active, in no segment.
    scheduled = world.person(92, ["en"])
    ok(
        client.post(
            f"/v1/subscriptions/{world.subscribe(scheduled, world.monthly)}",
            data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "unused"},
        )
    )
    scheduled.current = True
    # No email address, and a customer on a test clock: never reached by a campaign.
    canceling(world.person(93, ["en"], email=False), world.monthly, "unused", T0 + 5 * DAY)
    test_clock = ok(client.post("/v1/test_helpers/test_clocks", data={"frozen_time": T0}))["id"]
    clocked = world.person(94, ["en"], clock=test_clock)
    clocked_subscription = world.subscribe(clocked, world.monthly)
    ok(client.delete(f"/v1/subscriptions/{clocked_subscription}"))
    clocked.cancellations.append(Canceled(clocked_subscription, T0, NONE, world.monthly))

    for at, person, subscription, plan, feedback in sorted(cancels, key=lambda entry: entry[0]):
        world.cancel(person, subscription, plan, feedback, at)
    clock.set(T0 + 4 * DAY)
    world.subscribe(returned, world.yearly)
    returned.current = True
    unsubscribed = cast_people[4]
    ok(client.post(f"/v1/customers/{unsubscribed.id}", data={"tenure_marketing_opt_out": "true"}))
    unsubscribed.unsubscribed = True
    clock.set(T0 + 28 * DAY)
    return world, Cast(*cast_people)


def page_figure(html: str, figure_id: str) -> int:
    found = re.search(rf'id="{figure_id}"><div class="label">[^<]*</div><div class="value">(\d+)</div>', html)
    assert found, f"no figure {figure_id}"
    return int(found.group(1))


# --- the segment -----------------------------------------------------------------------------------


def test_segment_count_rows_and_csv_match_an_independent_computation(
    client: TestClient, clock: FrozenClock, app: FastAPI, runtime: Runtime, staff: None
) -> None:
    world, cast = build(client, clock, runtime)
    everything = Segment(T0, T0 + 28 * DAY)
    segments = [
        everything,
        Segment(T0, T0 + 28 * DAY, reasons=("too_expensive", NONE)),
        Segment(T0, T0 + 28 * DAY, plans=(world.yearly.price,)),
        Segment(
            T0 + 5 * DAY,
            T0 + 15 * DAY,
            reasons=("too_expensive", "unused", "missing_features", NONE),
            plans=(world.monthly.price, world.dollars.price),
        ),
        # The first of two cancellations of the same customer, alone in its period.
        Segment(T0 + 2 * DAY, T0 + 3 * DAY, reasons=("too_complex",)),
        Segment(T0 + 26 * DAY, T0 + 28 * DAY, reasons=("low_quality",), plans=(world.dollars.price,)),
        # Involuntary churn is its own reason: never among "No reason given".
        Segment(T0, T0 + 28 * DAY, reasons=(NONE,)),
        Segment(T0, T0 + 28 * DAY, reasons=(FAILED,)),
        Segment(T0, T0 + 28 * DAY, reasons=(FAILED, DISPUTED, "unused")),
    ]
    expectations = [expected_rows(world.people, segment) for segment in segments]
    # The generated business exercises what it must: several segments, every exclusion.
    assert len(expectations[0]) >= 20 and 0 < len(expectations[3]) < len(expectations[0])
    assert any(person.id == cast.unsubscribed.id for person, _ in expectations[0])
    assert expectations[4] and expectations[4][0][1].feedback == "too_complex"
    assert expectations[6] and {c.feedback for _, c in expectations[6]} == {NONE}
    assert [c.feedback for _, c in expectations[7]] == [FAILED]
    assert {c.feedback for _, c in expectations[8]} == {FAILED, DISPUTED, "unused"}
    assert {c.feedback for p, _ in expectations[0] for c in p.cancellations} >= {*STANDARD_REASONS, NONE} - {
        "low_quality"
    }

    with runtime.sessionmaker() as session:
        for segment, rows in zip(segments, expectations, strict=True):
            size = winback.segment_size(session, segment.service())
            assert (size.customers, size.unsubscribed) == (len(rows), sum(p.unsubscribed for p, _ in rows))
            found = winback.segment_rows(session, segment.service())
            assert [(r.customer_id, r.subscription_id) for r in found] == [
                (p.id, c.subscription) for p, c in rows
            ]
            csv_lines = [[str(v) for v in line] for line in winback.csv_rows(found)]
            assert csv_lines == expected_csv(rows)

    # The page and its CSV (an analyst reads and exports) say the same.
    with staff_browser(app, ANALYST) as analyst:
        for segment, rows in zip(segments, expectations, strict=True):
            html = analyst.get(PAGE, params=segment.query())
            assert html.status_code == 200, html.text
            assert page_figure(html.text, "figure-segment") == len(rows)
            assert re.findall(r'<tr data-customer="([^"]+)">', html.text) == [p.id for p, _ in rows]
            exported = analyst.get(PAGE + ".csv", params=segment.query())
            assert exported.headers["content-type"].startswith("text/csv")
            assert list(csv.reader(io.StringIO(exported.text))) == expected_csv(rows)
        # Analysts see no send form.
        html = analyst.get(PAGE, params=everything.query()).text
        assert 'id="send-form"' not in html
        # Involuntary churn can be picked, and is labelled as such.
        assert 'value="payment_failed"> Payment failed</label>' in html
        assert 'value="payment_disputed"> Payment disputed</label>' in html

    # The API's campaigns use the very same segment definition.
    chosen = segments[3]
    data: dict[str, Any] = {
        "kind": "win_back",
        "segment[type]": "canceled",
        "segment[canceled_after]": chosen.start,
        "segment[canceled_before]": chosen.end,
        "content[en][subject]": "Come back",
        "content[en][body]": "We miss you.",
    }
    data.update({f"segment[feedback][{i}]": code for i, code in enumerate(chosen.reasons)})
    data.update({f"segment[prices][{i}]": price for i, price in enumerate(chosen.plans)})
    made = ok(client.post("/v1/email_campaigns", data=data))
    assert made["recipients"] == len(expectations[3])
    assert made["suppressed"] == sum(p.unsubscribed for p, _ in expectations[3])
    assert made["segment"]["feedback"] == list(chosen.reasons)
    bad = client.post("/v1/email_campaigns", data={**data, "segment[feedback][0]": "bored"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "segment[feedback][0]"


# --- campaigns and reactivations -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    campaign: str
    customer: str
    at: int


def reactivate(client: TestClient, clock: FrozenClock, person: Person, at: int) -> str:
    """The customer subscribes again on the hosted checkout page."""
    clock.set(at)
    # Their old plan again (a customer keeps the currency of their first subscription).
    session = create_session(client, person.last_canceled().plan.price)
    page = client.get(f"/checkout/{session['id']}")
    assert page.status_code == 200, page.text
    form = card_form(checkout_csrf(page.text), email=str(person.email), name=person.name)
    done = client.post(f"/checkout/{session['id']}", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    completed = ok(client.get(f"/v1/checkout/sessions/{session['id']}"))
    # Checkout recognized the returning customer and recorded what they came back from.
    assert completed["customer"] == person.id
    assert completed["tenure_reactivation_of"] == person.last_canceled().subscription
    person.current = True
    return str(session["id"])


def last_touch(sent: list[Sent], customer: str, at: int) -> str | None:
    """The rule of docs/insights.md, computed here: the latest win-back email sent to the customer
    at most 30 days before the reactivation."""
    touches = [s for s in sent if s.customer == customer and s.at <= at and at - s.at <= 30 * DAY]
    return max(touches, key=lambda s: s.at).campaign if touches else None


def send_from_the_page(app: FastAPI, segment: Segment, **fields: str) -> tuple[str, TestClient]:
    with staff_browser(app, ADMIN) as admin:
        html = admin.get(PAGE, params=segment.query()).text
        action = re.search(r'<form method="post" action="([^"]+)" id="send-form"', html)
        assert action is not None
        posted = admin.post(
            action.group(1).replace("&amp;", "&"),
            data=as_data(changed(form_fields(html, "send-form"), dict(fields))),
            follow_redirects=False,
        )
        assert posted.status_code == 303, posted.text
        campaign = re.search(r"sent=(ecamp_\w+)", posted.headers["location"])
        assert campaign is not None
        return campaign.group(1), admin


def by_reason_text(counts: Counter[str]) -> str:
    if not counts:
        return "—"
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return " · ".join(f"{LABEL[code] if code in LABEL else LABELS[code]['en']}: {n}" for code, n in ordered)


def test_campaigns_and_reactivations_credited_by_last_touch(
    client: TestClient, clock: FrozenClock, app: FastAPI, runtime: Runtime, staff: None
) -> None:
    world, cast = build(client, clock, runtime)
    sent: list[Sent] = []
    recipients: dict[str, list[Person]] = {}

    # A: from the page, to everyone who canceled in the first 20 days.
    segment_a = Segment(T0, T0 + 20 * DAY)
    t_a = clock.now()
    campaign_a, _ = send_from_the_page(
        app, segment_a, name="Spring", url="https://shop.example/pricing", promotion_code=""
    )
    recipients[campaign_a] = [p for p, _ in expected_rows(world.people, segment_a)]
    send_due(runtime)
    sent += [Sent(campaign_a, p.id, t_a) for p in recipients[campaign_a] if not p.unsubscribed]

    # B: through the API, five days later, to those who left over the price or said nothing.
    clock.set(t_a + 5 * DAY)
    t_b = clock.now()
    segment_b = Segment(T0, T0 + 28 * DAY, reasons=("too_expensive", NONE))
    code = ok(
        client.post(
            "/v1/promotion_codes",
            data={
                "code": "COMEBACK",
                "promotion[type]": "coupon",
                "promotion[coupon]": ok(client.post("/v1/coupons", data={"percent_off": 30}))["id"],
            },
        )
    )
    campaign_b = ok(
        client.post(
            "/v1/email_campaigns",
            data={
                "kind": "win_back",
                "name": "Price",
                "segment[type]": "canceled",
                "segment[canceled_after]": segment_b.start,
                "segment[canceled_before]": segment_b.end,
                "segment[feedback][0]": "too_expensive",
                "segment[feedback][1]": NONE,
                "promotion_code": code["id"],
                "content[en][subject]": "30 % off",
                "content[en][body]": "Come back.",
            },
        )
    )["id"]
    recipients[campaign_b] = [p for p, _ in expected_rows(world.people, segment_b)]
    send_due(runtime)
    sent += [Sent(campaign_b, p.id, t_b) for p in recipients[campaign_b] if not p.unsubscribed]

    # C: queued a day later but never sent: it can take no credit.
    clock.set(t_b + DAY)
    with runtime.sessionmaker() as session:
        campaign_c = winback.send_campaign(
            session,
            campaign_id="ecamp_" + "C" * 24,
            name="Unsent",
            segment=Segment(T0, T0 + 28 * DAY).service(),
            content={"en": {"subject": "Hello", "body": "Again."}},
            url="https://shop.example/pricing",
            promotion_code=None,
            now=clock.now(),
        ).id
        session.commit()
    recipients[campaign_c] = [p for p, _ in expected_rows(world.people, Segment(T0, T0 + 28 * DAY))]

    # The cast lives each case of the rule.
    assert cast.early_pricey in recipients[campaign_a] and cast.early_pricey in recipients[campaign_b]
    assert cast.early_features in recipients[campaign_a] and cast.early_features not in recipients[campaign_b]
    assert cast.late_pricey in recipients[campaign_b] and cast.late_pricey not in recipients[campaign_a]
    assert cast.late_unused in recipients[campaign_c] and cast.late_unused not in recipients[campaign_b]
    comebacks = [
        (cast.early_pricey, t_a + 7 * DAY),  # A and B: the later email (B)
        (cast.early_features, t_a + 10 * DAY),  # A, ten days later
        (cast.unsubscribed, t_a + 11 * DAY),  # never emailed (suppressed)
        (cast.late_unused, t_a + 12 * DAY),  # only in C, which was never sent
        (cast.early_service, t_a + 31 * DAY),  # A, but 31 days later
        (cast.late_pricey, t_b + 30 * DAY),  # B, exactly 30 days later: still credited
        (cast.early_silent, t_b + 31 * DAY),  # B, 31 days later
    ]
    expected: list[tuple[str, Person, int, str | None]] = []
    for person, at in comebacks:
        checkout = reactivate(client, clock, person, at)
        expected.append((checkout, person, at, last_touch(sent, person.id, at)))
    credited = [campaign for *_, campaign in expected]
    assert credited.count(campaign_a) == 1 and credited.count(campaign_b) == 2 and None in credited

    with runtime.sessionmaker() as session:
        found = winback.reactivations(session)
        assert [(r.checkout_session, r.customer_id, r.completed_at, r.campaign_id) for r in found] == [
            (checkout, person.id, at, campaign) for checkout, person, at, campaign in expected
        ]
        assert [r.feedback for r in found] == [p.last_canceled().feedback for _, p, _, _ in expected]
        results = {r.campaign.id: r for r in winback.campaign_results(session)}
        # A campaign sent to a segment: one outbox row per customer, none twice.
        per_customer = session.execute(
            select(OutboxMessage.campaign_id, OutboxMessage.customer_id, func.count())
            .where(OutboxMessage.campaign_id.is_not(None))
            .group_by(OutboxMessage.campaign_id, OutboxMessage.customer_id)
        ).all()
        assert {n for *_, n in per_customer} == {1}

    expected_results = {}
    for campaign, people in recipients.items():
        suppressed = sum(p.unsubscribed for p in people)
        emailed = len(people) - suppressed if campaign != campaign_c else 0
        reasons = Counter(p.last_canceled().feedback for _, p, _, c in expected if c == campaign)
        expected_results[campaign] = (len(people), emailed, suppressed, sum(reasons.values()), reasons)
    assert set(results) == set(recipients)
    for campaign, (count, emailed, suppressed, reactivated, reasons) in expected_results.items():
        result = results[campaign]
        assert (
            result.campaign.recipients,
            result.emails(MessageStatus.SENT),
            result.emails(MessageStatus.SUPPRESSED),
            result.reactivations,
            result.by_reason,
        ) == (count, emailed, suppressed, reactivated, dict(reasons))

    # The reactivations of a period, on both pages.
    start, end = t_a + 8 * DAY, t_a + 32 * DAY
    in_period = [(p, c) for _, p, at, c in expected if start <= at < end]
    with runtime.sessionmaker() as session:
        summary = winback.period_reactivations(session, start=start, end=end)
    period_reasons = Counter(p.last_canceled().feedback for p, _ in in_period)
    assert (summary.total, summary.after_campaign, summary.by_reason) == (
        len(in_period),
        sum(1 for _, c in in_period if c is not None),
        dict(sorted(period_reasons.items(), key=lambda item: (-item[1], item[0]))),
    )
    with staff_browser(app, ANALYST) as analyst:
        period = Segment(start, end)
        html = analyst.get(PAGE, params=period.query()).text
        assert page_figure(html, "figure-reactivations") == len(in_period)
        hint = re.search(r'figure-reactivations".*?<div class="hint">(\d+) credited', html, re.S)
        assert hint and int(hint.group(1)) == summary.after_campaign
        assert f"By the reason they had left: {by_reason_text(period_reasons)}" in html
        for campaign, (count, emailed, suppressed, reactivated, reasons) in expected_results.items():
            row = re.search(rf'<tr data-campaign="{campaign}">(.*?)</tr>', html, re.S)
            assert row, campaign
            cells = dict(re.findall(r'data-figure="([a-z-]+)">([^<]*)', row.group(1)))
            assert cells == {
                "recipients": str(count),
                "sent": str(emailed),
                "suppressed": str(suppressed),
                "reactivations": str(reactivated),
                "by-reason": by_reason_text(reasons),
            }
        insights = analyst.get(
            "/dashboard/insights", params={"start": day_iso(start), "end": day_iso(end)}
        ).text
        assert page_figure(insights, "figure-reactivations") == len(in_period)


# --- the send form ---------------------------------------------------------------------------------


def outbox_count(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(EmailCampaign)) or 0,
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "win_back")
            )
            or 0,
        )


def test_the_send_form_refuses_bad_input_and_sends_once(
    client: TestClient, clock: FrozenClock, app: FastAPI, runtime: Runtime, staff: None
) -> None:
    world, _cast = build(client, clock, runtime)
    everything = Segment(T0, T0 + 28 * DAY)
    expected = expected_rows(world.people, everything)
    coupon = ok(client.post("/v1/coupons", data={"percent_off": 20}))["id"]

    def code(text: str, **extra: Any) -> str:
        data = {"code": text, "promotion[type]": "coupon", "promotion[coupon]": coupon, **extra}
        return str(ok(client.post("/v1/promotion_codes", data=data))["id"])

    code("BACK20")
    code("ONLYONE", customer=world.people[0].id)
    code("FIRSTTIME", **{"restrictions[first_time_transaction]": "true"})
    ok(client.post(f"/v1/promotion_codes/{code('OLD')}", data={"active": "false"}))
    with staff_browser(app, ADMIN) as admin:
        html = admin.get(PAGE, params=everything.query()).text
        # The defaults are the translated win-back texts, ready to edit.
        fields = dict(form_fields(html, "send-form"))
        assert fields["subject_fr"].startswith("Revenez chez") and fields["button_de"] == "Wieder abonnieren"
        assert "Kembalilah ke" in fields["subject_id"] and fields["subject_en"].startswith("Come back to")
        action = re.search(r'<form method="post" action="([^"]+)" id="send-form"', html)
        assert action is not None
        target = action.group(1).replace("&amp;", "&")
        base = form_fields(html, "send-form")

        def post(**values: str | None) -> Any:
            return admin.post(target, data=as_data(changed(base, values)), follow_redirects=False)

        refusals = {
            "promotion_code": [
                post(url=None, promotion_code=""),  # no offer at all
                post(promotion_code="NOSUCH"),
                post(promotion_code="OLD"),
                post(promotion_code="ONLYONE"),
                post(promotion_code="FIRSTTIME"),
            ],
            "url": [post(promotion_code="BACK20", url="javascript:alert(1)")],
            "subject_en": [post(promotion_code="BACK20", subject_en="")],
            "body_fr": [post(promotion_code="BACK20", body_fr="x" * 10_001)],
        }
        for field_name, answers in refusals.items():
            for answer in answers:
                assert answer.status_code == 400, (field_name, answer.text[:200])
                assert "Nothing was sent" in answer.text
                assert f'id="error-{field_name}"' in answer.text, field_name
        assert outbox_count(runtime) == (0, 0)
        nobody = Segment(T0 + 26 * DAY, T0 + 28 * DAY, reasons=("low_quality",), plans=(world.dollars.price,))
        assert not expected_rows(world.people, nobody)
        empty_page = admin.get(PAGE, params=nobody.query()).text
        empty_action = re.search(r'action="([^"]+)" id="send-form"', empty_page)
        assert empty_action is not None
        refused = admin.post(
            empty_action.group(1).replace("&amp;", "&"),
            data=as_data(changed(form_fields(empty_page, "send-form"), {"promotion_code": "back20"})),
        )
        assert refused.status_code == 400 and 'id="error-segment"' in refused.text
        # Without a CSRF token, or as an analyst: refused before anything happens.
        assert post(csrf_token="forged", promotion_code="BACK20").status_code == 403
        with staff_browser(app, ANALYST) as analyst:
            assert analyst.post(target, data=as_data(base)).status_code == 403
        assert outbox_count(runtime) == (0, 0)

        # Sent twice (a double click, a resubmitted form): one campaign, one email per customer.
        first = post(promotion_code="back20", url="", name="Twenty off")
        second = post(promotion_code="back20", url="", name="Twenty off")
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        assert outbox_count(runtime) == (1, len(expected))
        notice = admin.get(first.headers["location"]).text
        assert (
            f"queued: {len(expected)} recipients, {sum(p.unsubscribed for p, _ in expected)} suppressed"
            in notice
        )
    with runtime.sessionmaker() as session:
        campaign = session.scalars(select(EmailCampaign)).one()
        assert campaign.promotion_code == "BACK20" and campaign.url is None
        # Without a link the buttons are dropped (the email has nowhere to point them).
        assert all("button" not in text for text in campaign.content.values())
        assert campaign.content["fr"]["subject"] == fields["subject_fr"]
    with staff_browser(app, ANALYST) as analyst:
        answer = analyst.get(PAGE, params={"from": "2026-13-01", "to": "yesterday"})
        assert answer.status_code == 400
        assert 'id="error-from"' in answer.text and 'id="error-to"' in answer.text
        assert analyst.get(PAGE + ".csv", params={"reason": "bored"}).status_code == 400
