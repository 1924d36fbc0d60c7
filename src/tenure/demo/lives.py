"""What happens to each demo customer over the year, decided up front (then played by `book`).

Most lives are drawn from one seeded random generator; a small fixed cast, placed relative to the
end of the year, makes sure every subscription status exists at the end whatever the size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tenure.demo.feedback import pick_feedback
from tenure.demo.names import People, Person
from tenure.subscriptions.models import Feedback

MINUTE = 60
HOUR = 3600
DAY = 86_400

EUR_COUNTRIES = frozenset({"AT", "BE", "DE", "FR", "IE", "NL"})
CARD_BRANDS = (("pm_card_visa", 55), ("pm_card_mastercard", 30), ("pm_card_amex", 15))
DECLINED = "pm_card_chargeDeclined"
FAILING_CARDS = (("pm_card_chargeCustomerFail", 70), ("pm_card_chargeDeclined", 30))
SEPA = "sepa_debit"
PAYPAL = "paypal"


@dataclass
class Life:
    """One customer: who they are, what they buy, and the moments they act (None: never)."""

    person: Person
    signup_at: int
    plan: str
    interval: str
    payment: str  # a test token, SEPA or PAYPAL
    trial_days: int | None = None
    discount: str | None = None  # "launch" | "welcome" | "promotion_code"
    incomplete_fixed_at: int | None = None
    card_fails_at: int | None = None
    failing_card: str = "pm_card_chargeCustomerFail"
    card_fixed_at: int | None = None
    upgrade_at: int | None = None
    yearly_at: int | None = None
    pause_at: int | None = None
    cancel_at: int | None = None
    cancel_now: bool = False
    prorate: bool = False
    keeps_at: int | None = None  # changes their mind about a scheduled cancellation
    feedback: Feedback | None = None
    comment: str | None = None
    customer_id: str | None = field(default=None, compare=False)
    subscription_id: str | None = field(default=None, compare=False)

    @property
    def currency(self) -> str:
        return "eur" if self.person.country in EUR_COUNTRIES else "usd"

    def moments(self, *, until: int) -> list[tuple[int, str]]:
        """(time, action) pairs before `until`, the sign-up first."""
        planned = {
            "signup": self.signup_at,
            "fix_incomplete": self.incomplete_fixed_at,
            "card_fails": self.card_fails_at,
            "card_fixed": self.card_fixed_at,
            "upgrade": self.upgrade_at,
            "yearly": self.yearly_at,
            "pause": self.pause_at,
            "cancel": self.cancel_at,
            "keep": self.keeps_at,
        }
        return [(at, action) for action, at in planned.items() if at is not None and at < until]


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _ in pairs], weights=[weight for _, weight in pairs])[0]


def signup_times(rng: random.Random, count: int, *, start: int, end: int) -> list[int]:
    """`count` sign-up moments over the year, about three times as many a day at the end (growth)."""
    days = max((end - start) // DAY, 1)
    chosen = rng.choices(range(days), weights=[1 + 2 * day / days for day in range(days)], k=count)
    return sorted(min(start + day * DAY + rng.randrange(DAY), end - HOUR) for day in chosen)


def random_life(rng: random.Random, people: People, *, signup_at: int, end: int) -> Life:
    person = people.person()
    plan = _weighted(rng, (("starter", 50), ("team", 35), ("business", 15)))
    interval = "year" if rng.random() < 0.25 else "month"
    life = Life(person=person, signup_at=signup_at, plan=plan, interval=interval, payment="")
    life.payment = _payment(rng, life.currency)
    if rng.random() < 0.2:
        life.trial_days = 14
    roll = rng.random()
    if roll < 0.08:
        life.discount = "launch"
    elif roll < 0.14:
        life.discount = "promotion_code"
    elif roll < 0.18 and life.currency == "eur":
        life.discount = "welcome"
    if life.payment == DECLINED:
        # A declined first payment: half come back with another card within hours.
        if rng.random() < 0.5:
            life.incomplete_fixed_at = signup_at + rng.randrange(10 * MINUTE, 8 * HOUR)
        return life
    age = end - signup_at
    if rng.random() < 0.18 and age > 20 * DAY:
        life.card_fails_at = signup_at + rng.randrange(15 * DAY, age)
        life.failing_card = _weighted(rng, FAILING_CARDS)
        if rng.random() < 0.35:
            life.card_fixed_at = life.card_fails_at + rng.randrange(2 * DAY, 25 * DAY)
    if plan != "business" and rng.random() < 0.1 and age > 25 * DAY:
        life.upgrade_at = signup_at + rng.randrange(20 * DAY, age)
    if interval == "month" and rng.random() < 0.07 and age > 40 * DAY:
        life.yearly_at = signup_at + rng.randrange(35 * DAY, age)
    if interval == "month" and rng.random() < 0.03 and age > 35 * DAY:
        life.pause_at = signup_at + rng.randrange(30 * DAY, age)
    _plan_cancellation(rng, life)
    return life


def _payment(rng: random.Random, currency: str) -> str:
    roll = rng.random()
    if roll < 0.04:
        return DECLINED
    if currency == "eur" and roll < 0.29:
        return SEPA
    if roll < (0.39 if currency == "eur" else 0.14):
        return PAYPAL
    return _weighted(rng, CARD_BRANDS)


def _plan_cancellation(rng: random.Random, life: Life) -> None:
    if life.trial_days and rng.random() < 0.25:
        # Tried it and left before paying.
        life.cancel_at = life.signup_at + rng.randrange(DAY, (life.trial_days - 2) * DAY)
    else:
        monthly_churn = 0.055 if life.interval == "month" else 0.02
        life.cancel_at = life.signup_at + int(rng.expovariate(monthly_churn / (30 * DAY)))
    life.cancel_now = rng.random() < 0.22 and not life.trial_days
    life.prorate = life.cancel_now and rng.random() < (0.8 if life.interval == "year" else 0.5)
    if not life.cancel_now and rng.random() < 0.12:
        life.keeps_at = life.cancel_at + rng.randrange(HOUR, 6 * DAY)
    life.feedback, life.comment = pick_feedback(rng, life.person.language)


def cast(people: People, *, start: int, end: int) -> list[Life]:
    """Customers placed so that, at `end`, every status exists (each comment says how)."""

    def life(signup_at: int, plan: str, interval: str, payment: str = "pm_card_visa") -> Life:
        return Life(people.person(), signup_at=signup_at, plan=plan, interval=interval, payment=payment)

    founder = life(start + 2 * HOUR, "team", "year")  # active; its first invoice is a year old
    # Renews about 8 days before the end on a card that fails: past_due, retries still pending.
    past_due = life(end - 38 * DAY, "starter", "month")
    past_due.card_fails_at = end - 20 * DAY
    # A Business plan, whose dunning ends `unpaid` (the demo's policy for Business plans).
    unpaid = life(end - 120 * DAY, "business", "month")
    unpaid.card_fails_at = end - 100 * DAY
    # Dunning gives up: canceled with reason payment_failed.
    failed = life(end - 150 * DAY, "starter", "month")
    failed.card_fails_at = end - 130 * DAY
    # Asked to cancel at the end of the period: canceled with reason cancellation_requested.
    scheduled = life(end - 200 * DAY, "team", "month")
    scheduled.cancel_at, scheduled.feedback = end - 170 * DAY, Feedback.TOO_EXPENSIVE
    # Canceled at once, the unused time credited.
    immediate = life(end - 90 * DAY, "starter", "year")
    immediate.cancel_at, immediate.cancel_now, immediate.prorate = end - 60 * DAY, True, True
    immediate.feedback, immediate.comment = Feedback.OTHER, "We are merging with another company."
    trialing = life(end - 5 * DAY, "team", "month")
    trialing.trial_days = 14
    incomplete = life(end - 3 * HOUR, "starter", "month", DECLINED)  # would expire 20 hours after the end
    expired = life(end - 40 * DAY, "business", "year", DECLINED)  # expired 23 hours after signing up
    discounted = life(end - 75 * DAY, "business", "month")
    discounted.discount = "launch"
    return [
        founder,
        past_due,
        unpaid,
        failed,
        scheduled,
        immediate,
        trialing,
        incomplete,
        expired,
        discounted,
    ]


def plan_lives(rng: random.Random, *, size: int, start: int, end: int) -> list[Life]:
    """The cast plus `size - len(cast)` random customers, in sign-up order."""
    people = People(rng)
    fixed = cast(people, start=start, end=end)
    times = signup_times(rng, max(size - len(fixed), 0), start=start, end=end)
    lives = fixed + [random_life(rng, people, signup_at=at, end=end) for at in times]
    return sorted(lives, key=lambda one: one.signup_at)
