"""The API floor: a minimal Starlette app doing the same SQL writes as Tenure, by hand.

Served like Tenure (`uvicorn bench.floors.app:app --workers 2 --http httptools --loop uvloop`)
on the same database with the same driver, so the ratio Tenure/floor is what the framework,
the ORM, validation and serialization cost on top of the unavoidable work. Each handler runs
the reads the work needs and every INSERT/UPDATE Tenure's path makes in total, in one
transaction (BEGIN IMMEDIATE on SQLite, as Tenure): the request's own rows, its events and its
audit entry, and what the event log's consumers write after commit (`tenure.consumers`): the
webhook deliveries with each event's `pending_webhooks`, the insights' `cancellations` row and
its `cancellation_days` counter, the cancellation email. Only the consumers' checkpoints
(`event_consumers`) are not written: they are the cost of doing that work after commit, which
a floor doing it in the transaction does not have. `python -m bench --explain` prints the SQL.

Environment: FLOOR_DATABASE_URL (SQLAlchemy-style URL), FLOOR_SECRET_KEY (Tenure's, for the
portal's CSRF tokens), FLOOR_TEMPLATES (a JSON file with the `customer`, `subscription` and
`invoice` objects Tenure returned, so responses and event payloads have the same size).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import string
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.floors.sql import INSERT_DELIVERIES, Database, Runner, deliveries, enabled_endpoints, new_id

API_VERSION = "2025-03-31.basil"
MONTH = 30 * 86400
DAY = 86_400
# The insights rollup's tenure buckets (tenure.insights.daily.TENURE_BUCKETS): (name, below days).
TENURE_BUCKETS = (("lt_1m", 30), ("1_3m", 91), ("3_6m", 182), ("6_12m", 365), ("gt_12m", None))
# Months per period, as numerator/denominator (tenure.subscriptions.periods.monthly_factor).
MONTHLY_FACTOR = {"month": (1, 1), "year": (1, 12), "week": (52, 12), "day": (365, 12)}
UNAUTHORIZED = {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}


@dataclass(frozen=True)
class Floor:
    """What the handlers work with: the store, Tenure's secret key, the response templates."""

    database: Database
    secret_key: str = ""
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Floor:
        templates_path = os.environ.get("FLOOR_TEMPLATES")
        return cls(
            database=Database(os.environ.get("FLOOR_DATABASE_URL", "sqlite:///floor.sqlite3")),
            secret_key=os.environ.get("FLOOR_SECRET_KEY", ""),
            templates=json.loads(Path(templates_path).read_text()) if templates_path else {},
        )

    def template(self, name: str, default_object: str) -> dict[str, Any]:
        return dict(self.templates.get(name) or {"object": default_object})


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, separators=(",", ":")), status_code=status, media_type="application/json")


def _secret(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- what every API write shares: the key, the audit entry, events and their deliveries ----------


@dataclass(frozen=True)
class ApiKey:
    id: str
    actor_name: str


def _authenticate(run: Runner, request_secret: str, now: int) -> ApiKey | None:
    row = run.one(
        "SELECT id, name, redacted, revoked_at, expires_at FROM api_keys WHERE secret_hash = ?",
        (hashlib.sha256(request_secret.encode()).hexdigest(),),
    )
    if row is None or row[3] is not None or (row[4] is not None and row[4] <= now):
        return None
    key_id, name, redacted = row[0], row[1], row[2]
    return ApiKey(key_id, f"{name} ({redacted})" if name else redacted)


def _audit(
    run: Runner, key: ApiKey, *, action: str, object_id: str, form: dict[str, str], ip: str, now: int
) -> None:
    """The audit entry of a successful API write: the key, the route, the parameters' names."""
    params = sorted({name.split("[", 1)[0] for name in form} - {"expand"})
    run.run(
        "INSERT INTO audit_log (id, created, actor_kind, actor_id, actor_name, action, object_id, summary, "
        f"ip) VALUES ({_marks(9)})",
        (
            new_id("audit"),
            now,
            "api_key",
            key.id,
            key.actor_name,
            action,
            object_id,
            json.dumps({"params": params}),
            ip,
        ),
    )


class Events:
    """A transaction's events, and the webhook deliveries Tenure's `webhooks` consumer writes for
    them: one per enabled endpoint that wants the event, the count in the event's `pending_webhooks`
    (set as the event is inserted: the floor knows it then)."""

    def __init__(self, run: Runner) -> None:
        self.run = run
        self.endpoints = enabled_endpoints(run)
        self.deliveries: list[tuple[Any, ...]] = []

    def record(
        self,
        type_: str,
        obj: dict[str, Any],
        *,
        now: int,
        previous: dict[str, Any] | None = None,
        origin: dict[str, str] | None = None,
    ) -> str:
        event_id = new_id("evt")
        queued = deliveries(self.endpoints, event_id=event_id, event_type=type_, created=now)
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        self.run.run(
            "INSERT INTO events (type, object_id, data, api_version, request_id, idempotency_key, "
            "pending_webhooks, origin, tx, id, created, livemode) "
            f"VALUES ({_marks(8)}, {self.run.database.current_transaction}, ?, ?, ?)",
            (
                type_,
                obj["id"],
                json.dumps(data),
                API_VERSION,
                None,
                None,
                len(queued),
                json.dumps(origin),  # JSON null without one, as Tenure stores it
                event_id,
                now,
                False,
            ),
        )
        self.deliveries.extend(queued)
        return event_id

    def queue_deliveries(self) -> None:
        """Insert the transaction's deliveries (after their events, which they reference)."""
        if self.deliveries:
            self.run.many(INSERT_DELIVERIES, self.deliveries)
            self.deliveries = []


# --- POST /v1/customers ----------------------------------------------------------------------


def customer_floor(floor: Floor, secret: str, form: dict[str, str], ip: str) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    customer = floor.template("customer", "customer")
    customer.update(
        id=new_id("cus"),
        created=now,
        email=form.get("email"),
        name=form.get("name"),
        invoice_prefix="".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
        next_invoice_sequence=1,
        metadata={},
    )
    with floor.database.transaction() as run:
        key = _authenticate(run, secret, now)
        if key is None:
            return 401, UNAUTHORIZED
        run.run(
            "INSERT INTO customers (email, name, phone, description, address, preferred_locales, balance, "
            "currency, default_payment_method_id, test_clock_id, deleted, marketing_opt_out, invoice_prefix, "
            f"next_invoice_sequence, id, created, livemode, metadata) VALUES ({_marks(18)})",
            (
                customer["email"],
                customer["name"],
                None,
                None,
                "null",
                "[]",
                0,
                None,
                None,
                None,
                False,
                False,
                customer["invoice_prefix"],
                1,
                customer["id"],
                now,
                False,
                "{}",
            ),
        )
        events = Events(run)
        events.record("customer.created", customer, now=now)
        _audit(run, key, action="POST /v1/customers", object_id=customer["id"], form=form, ip=ip, now=now)
        events.queue_deliveries()
    return 200, customer


async def create_customer(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    status, body = await run_in_threadpool(customer_floor, FLOOR, _secret(request), form, _ip(request))
    return _json(body, status)


# --- POST /v1/subscriptions ------------------------------------------------------------------


def subscription_floor(
    floor: Floor, secret: str, form: dict[str, str], ip: str
) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    with floor.database.transaction() as run:
        key = _authenticate(run, secret, now)
        if key is None:
            return 401, UNAUTHORIZED
        customer = run.one(
            "SELECT pk, id, currency, default_payment_method_id, invoice_prefix, next_invoice_sequence "
            "FROM customers WHERE id = ?",
            (form.get("customer"),),
        )
        price = run.one(
            "SELECT id, product_id, currency, unit_amount, recurring_interval FROM prices WHERE id = ?",
            (form.get("items[0][price]"),),
        )
        if customer is None or price is None:
            return 400, {"error": {"type": "invalid_request_error", "message": "No such customer or price"}}
        customer_pk, customer_id, currency, pm_id, prefix, sequence = customer
        price_id, product_id, price_currency, amount, _interval = price
        subscription_id, item_id, invoice_id = new_id("sub"), new_id("si"), new_id("in")
        period_end = now + MONTH
        run.run(
            "INSERT INTO subscriptions (customer_id, status, currency, description, billing_cycle_anchor, "
            "start_date, current_period_start, current_period_end, cancel_at_period_end, cancel_at, "
            "canceled_at, ended_at, cancellation_details, trial_start, trial_end, trial_will_end_sent, "
            "default_payment_method_id, latest_invoice_id, test_clock_id, next_action_at, id, created, "
            f"livemode, metadata) VALUES ({_marks(24)})",
            (
                customer_id,
                "incomplete",
                price_currency,
                None,
                now,
                now,
                now,
                period_end,
                False,
                None,
                None,
                None,
                '{"comment": null, "feedback": null, "reason": null}',
                None,
                None,
                False,
                None,
                None,
                None,
                None,
                subscription_id,
                now,
                False,
                "{}",
            ),
        )
        run.run(
            "INSERT INTO subscription_items (subscription_id, price_id, quantity, id, created, livemode, "
            "metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (subscription_id, price_id, 1, item_id, now, False, "{}"),
        )
        if currency is None:
            run.run("UPDATE customers SET currency = ? WHERE pk = ?", (price_currency, customer_pk))
        product = run.one("SELECT name FROM products WHERE id = ?", (product_id,))
        run.all(
            "SELECT discounts.id, coupons.percent_off, coupons.amount_off FROM discounts "
            "JOIN coupons ON coupons.id = discounts.coupon_id "
            "WHERE discounts.subscription_id = ? AND discounts.removed_at IS NULL",
            (subscription_id,),
        )
        run.run("UPDATE customers SET next_invoice_sequence = ? WHERE pk = ?", (sequence + 1, customer_pk))
        number = f"{prefix}-{sequence:04d}"
        run.run(
            "INSERT INTO invoices (customer_id, subscription_id, status, number, currency, billing_reason, "
            "subtotal, total, discount_amounts, amount_due, amount_paid, amount_remaining, starting_balance, "
            "ending_balance, period_start, period_end, attempt_count, attempted, next_payment_attempt, "
            "first_failed_at, finalized_at, paid_at, voided_at, marked_uncollectible_at, "
            "default_payment_method_id, test_clock_id, id, created, livemode, metadata) "
            f"VALUES ({_marks(30)})",
            (
                customer_id,
                subscription_id,
                "open",
                number,
                price_currency,
                "subscription_create",
                amount,
                amount,
                "[]",
                amount,
                0,
                amount,
                0,
                0,
                now,
                period_end,
                0,
                False,
                None,
                None,
                now,
                None,
                None,
                None,
                None,
                None,
                invoice_id,
                now,
                False,
                "{}",
            ),
        )
        run.run(
            "INSERT INTO invoice_lines (id, invoice_id, customer_id, subscription_id, subscription_item_id, "
            "price_id, description, quantity, amount, discount_amounts, currency, period_start, period_end, "
            "proration, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id("il"),
                invoice_id,
                customer_id,
                subscription_id,
                item_id,
                price_id,
                f"1 × {product[0] if product else ''}",
                1,
                amount,
                "[]",
                price_currency,
                now,
                period_end,
                False,
                now,
            ),
        )
        invoice = floor.template("invoice", "invoice")
        invoice.update(id=invoice_id, customer=customer_id, number=number, created=now, status="open")
        events = Events(run)
        events.record("invoice.created", invoice, now=now)
        events.record("invoice.finalized", invoice, now=now)
        run.run("UPDATE subscriptions SET latest_invoice_id = ? WHERE id = ?", (invoice_id, subscription_id))
        # The test processor's charge: read the method, mark the invoice paid.
        run.one("SELECT id, type, behaviour FROM payment_methods WHERE id = ?", (pm_id,))
        run.run(
            "UPDATE invoices SET status = ?, amount_paid = ?, amount_remaining = ?, attempt_count = ?, "
            "attempted = ?, next_payment_attempt = ?, paid_at = ?, last_payment_error = ? WHERE id = ?",
            ("paid", amount, 0, 1, True, None, now, "null", invoice_id),
        )
        invoice.update(status="paid", amount_paid=amount, amount_remaining=0)
        events.record("invoice.paid", invoice, now=now)
        events.record("invoice.payment_succeeded", invoice, now=now)
        run.run(
            "UPDATE subscriptions SET status = ?, next_action_at = ? WHERE id = ?",
            ("active", period_end, subscription_id),
        )
        subscription = floor.template("subscription", "subscription")
        subscription.update(
            id=subscription_id,
            customer=customer_id,
            created=now,
            status="active",
            latest_invoice=invoice_id,
        )
        events.record("customer.subscription.created", subscription, now=now)
        _audit(
            run, key, action="POST /v1/subscriptions", object_id=subscription_id, form=form, ip=ip, now=now
        )
        events.queue_deliveries()
    return 200, subscription


async def create_subscription(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    status, body = await run_in_threadpool(subscription_floor, FLOOR, _secret(request), form, _ip(request))
    return _json(body, status)


# --- POST /v1/billing_portal/sessions -----------------------------------------------------------


def portal_session_floor(
    floor: Floor, secret: str, form: dict[str, str], ip: str, base_url: str
) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    with floor.database.transaction() as run:
        key = _authenticate(run, secret, now)
        if key is None:
            return 401, UNAUTHORIZED
        customer = run.one(
            "SELECT id, preferred_locales FROM customers WHERE id = ?", (form.get("customer"),)
        )
        configuration = run.one(
            "SELECT id, features FROM portal_configurations WHERE is_default = ? ORDER BY pk LIMIT 1", (True,)
        )
        if customer is None or configuration is None:
            return 400, {"error": {"type": "invalid_request_error", "message": "No such customer"}}
        token = secrets.token_urlsafe(32)
        session = floor.template("portal_session", "billing_portal.session")
        session.update(
            id=new_id("bps"),
            created=now,
            customer=customer[0],
            configuration=configuration[0],
            return_url=form.get("return_url"),
            url=f"{base_url}/portal/session/{token}",
        )
        run.run(
            "INSERT INTO portal_sessions (customer_id, configuration_id, return_url, locale, flow, "
            "url_secret_hash, url_expires_at, opened_at, browser_token_hash, browser_expires_at, id, "
            f"created, livemode) VALUES ({_marks(13)})",
            (
                customer[0],
                configuration[0],
                form.get("return_url"),
                None,
                "null",
                hashlib.sha256(token.encode()).hexdigest(),
                now + 300,
                None,
                None,
                None,
                session["id"],
                now,
                False,
            ),
        )
        events = Events(run)
        events.record("billing_portal.session.created", session, now=now)
        _audit(
            run,
            key,
            action="POST /v1/billing_portal/sessions",
            object_id=session["id"],
            form=form,
            ip=ip,
            now=now,
        )
        events.queue_deliveries()
    return 200, session


async def create_portal_session(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    base_url = f"{request.url.scheme}://{request.url.netloc}"
    status, body = await run_in_threadpool(
        portal_session_floor, FLOOR, _secret(request), form, _ip(request), base_url
    )
    return _json(body, status)


# --- the portal's final cancel POST (reason given, no offer) -------------------------------------


def _csrf(secret_key: str, session_id: str) -> str:
    return hmac.new(secret_key.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def _round_minor(amount: Fraction) -> int:
    """Half away from zero (tenure.money.round_minor); `amount` is never negative here."""
    whole, remainder = divmod(amount.numerator, amount.denominator)
    return whole + (1 if 2 * remainder >= amount.denominator else 0)


def _mrr(items: list[Any], discounts: list[Any], *, currency: str, at: int) -> int:
    """The subscription's MRR after the discounts active at `at` (tenure.insights.mrr)."""
    per_period, factor = Fraction(0), Fraction(1)
    for _price_id, quantity, _product, _nickname, unit_amount, interval, interval_count, _name in items:
        if interval is None:
            continue
        numerator, denominator = MONTHLY_FACTOR[interval]
        factor = Fraction(numerator, denominator * (interval_count or 1))
        per_period += unit_amount * quantity
    for start, end, percent_off, amount_off, coupon_currency in discounts:
        if not (start <= at and (end is None or at < end)):
            continue
        if percent_off is not None:
            per_period -= per_period * Fraction(str(percent_off)) / 100
        elif amount_off is not None and coupon_currency == currency:
            per_period -= amount_off
    return _round_minor(max(per_period, Fraction(0)) * factor)


def _tenure_bucket(days: int) -> str:
    return next(name for name, below in TENURE_BUCKETS if below is None or days < below)


def _plan_name(items: list[Any], subscription_id: str) -> str:
    """What the cancellation email calls the plan (tenure.notifications.triggers.plan_name)."""
    if not items:
        return subscription_id
    _price, _quantity, _product, nickname, _amount, _interval, _count, product_name = items[0]
    name = str(product_name or nickname or subscription_id)
    return name + (f" (+{len(items) - 1})" if len(items) > 1 else "")


def cancel_floor(floor: Floor, token: str, subscription_id: str, form: dict[str, str]) -> tuple[int, str]:
    now = int(time.time())
    lock = "" if floor.database.kind == "sqlite" else " FOR UPDATE"
    with floor.database.transaction() as run:
        session = run.one(
            "SELECT id, customer_id, configuration_id, browser_expires_at FROM portal_sessions "
            "WHERE browser_token_hash = ?",
            (hashlib.sha256(token.encode()).hexdigest(),),
        )
        if session is None or (session[3] or 0) <= now:
            return 401, "session expired"
        run.one("SELECT id, preferred_locales, deleted FROM customers WHERE id = ?", (session[1],))
        run.one("SELECT id, features, tenure FROM portal_configurations WHERE id = ?", (session[2],))
        if not hmac.compare_digest(_csrf(floor.secret_key, session[0]), form.get("csrf_token", "")):
            return 403, "csrf"
        subscription = run.one(
            "SELECT pk, customer_id, status, currency, start_date, current_period_end, cancel_at_period_end, "
            f"cancel_at FROM subscriptions WHERE id = ? AND customer_id = ?{lock}",
            (subscription_id, session[1]),
        )
        if subscription is None:
            return 404, "not found"
        subscription_pk, customer_id, status, currency, start_date, period_end, at_period_end, cancel_at = (
            subscription
        )
        items = run.all(
            "SELECT subscription_items.price_id, subscription_items.quantity, prices.product_id, "
            "prices.nickname, prices.unit_amount, prices.recurring_interval, "
            "prices.recurring_interval_count, products.name FROM subscription_items "
            "JOIN prices ON prices.id = subscription_items.price_id "
            "LEFT JOIN products ON products.id = prices.product_id "
            "WHERE subscription_items.subscription_id = ? ORDER BY subscription_items.pk",
            (subscription_id,),
        )
        flow_id = form.get("flow") or ""
        flow = run.one(
            "SELECT pk, locale, completed_at FROM cancellation_flows "
            f"WHERE id = ? AND subscription_id = ?{lock}",
            (flow_id, subscription_id),
        )
        if flow is None:
            return 409, "flow expired"
        flow_pk, locale, completed_at = flow
        if completed_at is not None:
            return 303, "/portal?notice=canceled"
        reason = form.get("reason") or None
        comment = (form.get("comment") or "").strip() or None
        run.run(
            "UPDATE cancellation_flows SET reason_code = ?, feedback = ?, comment = ?, reason_at = ? "
            "WHERE pk = ?",
            (reason, reason, comment, now, flow_pk),
        )
        # Offer eligibility (an active discount, or an offer accepted within the cooldown); the
        # discounts also go into the cancellation's MRR.
        discounts = run.all(
            'SELECT discounts.start, discounts."end", coupons.percent_off, coupons.amount_off, '
            "coupons.currency FROM discounts JOIN coupons ON coupons.id = discounts.coupon_id "
            "WHERE discounts.subscription_id = ? AND discounts.removed_at IS NULL",
            (subscription_id,),
        )
        run.all(
            "SELECT pk FROM cancellation_flows WHERE subscription_id = ? AND offer_response = ? "
            "AND offer_responded_at >= ?",
            (subscription_id, "accepted", now - 90 * 86400),
        )
        if at_period_end or cancel_at is not None or status in ("canceled", "incomplete_expired"):
            # Canceled elsewhere meanwhile: this flow did not cancel (tenure.retention.flow.cancel).
            run.run(
                "UPDATE cancellation_flows SET outcome = ?, completed_at = ? "
                "WHERE subscription_id = ? AND outcome IS NULL",
                ("superseded", now, subscription_id),
            )
            return 303, "/portal?notice=canceled"
        details = {"comment": comment, "feedback": reason, "reason": "cancellation_requested"}
        run.run(
            "UPDATE subscriptions SET cancel_at_period_end = ?, canceled_at = ?, cancellation_details = ? "
            "WHERE pk = ?",
            (True, now, json.dumps(details), subscription_pk),
        )
        obj = floor.template("subscription", "subscription")
        obj.update(
            id=subscription_id, cancel_at_period_end=True, canceled_at=now, cancellation_details=details
        )
        events = Events(run)
        events.record(
            "customer.subscription.updated",
            obj,
            now=now,
            previous={
                "cancel_at_period_end": False,
                "canceled_at": None,
                # The keys that changed from the empty details of a subscription never canceled.
                "cancellation_details": {name: None for name, value in details.items() if value is not None},
            },
            origin={"source": "portal", "flow": flow_id, "locale": locale},
        )
        run.run(
            "UPDATE cancellation_flows SET outcome = ?, completed_at = ?, mode = ? WHERE pk = ?",
            ("canceled", now, "at_period_end", flow_pk),
        )
        # The customer's other open flows on this subscription close with it.
        run.run(
            "UPDATE cancellation_flows SET outcome = ?, completed_at = ? "
            "WHERE subscription_id = ? AND outcome IS NULL AND pk <> ?",
            ("superseded", now, subscription_id, flow_pk),
        )
        # What the `cancellations` consumer writes: the insights row and its day's counter.
        first = items[0] if items else None
        mrr = _mrr(items, discounts, currency=currency, at=now)
        tenure_days = max(now - start_date, 0) // DAY
        run.run(
            "INSERT INTO cancellations (subscription_id, customer_id, canceled_at, ended_at, started_at, "
            "tenure_days, reason, feedback, comment, price_id, product_id, currency, mrr, locale, source, "
            f"flow_id) VALUES ({_marks(16)})",
            (
                subscription_id,
                customer_id,
                now,
                None,
                start_date,
                tenure_days,
                "cancellation_requested",
                reason,
                comment,
                first[0] if first else None,
                first[2] if first else None,
                currency,
                mrr,
                locale,
                "portal",
                flow_id,
            ),
        )
        run.run(
            "INSERT INTO cancellation_days (day, reason, feedback, price_id, currency, tenure_bucket, count, "
            "mrr) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (day, reason, feedback, price_id, currency, tenure_bucket) DO UPDATE SET "
            "count = cancellation_days.count + excluded.count, mrr = cancellation_days.mrr + excluded.mrr",
            (
                now - now % DAY,
                "cancellation_requested",
                reason or "",
                first[0] if first else "",
                currency,
                _tenure_bucket(tenure_days),
                1,
                mrr,
            ),
        )
        # What the `emails` consumer writes: the cancellation email, once per cancellation.
        run.run(
            "INSERT INTO email_messages (cause_key, kind, category, customer_id, campaign_id, data, status, "
            f"attempts, next_attempt_at, last_error, id, created, livemode) VALUES ({_marks(13)}) "
            "ON CONFLICT (cause_key) DO NOTHING",
            (
                f"cancellation:{subscription_id}:{now}",
                "cancellation",
                "transactional",
                customer_id,
                None,
                json.dumps(
                    {
                        "subscription": subscription_id,
                        "plan": _plan_name(items, subscription_id),
                        "scheduled": True,
                        "ends_at": period_end,
                    }
                ),
                "queued",
                0,
                None,
                None,
                new_id("emsg"),
                now,
                False,
            ),
        )
        events.queue_deliveries()
    return 303, "/portal?notice=canceled"


async def cancel_reason(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    token = request.cookies.get("tenure_portal", "")
    subscription_id = request.path_params["subscription_id"]
    status, where = await run_in_threadpool(cancel_floor, FLOOR, token, subscription_id, form)
    if status == 303:
        return Response(status_code=303, headers={"Location": where})
    return PlainTextResponse(where, status_code=status)


async def ping(_request: Request) -> Response:
    return PlainTextResponse("ok")


FLOOR = Floor.from_env()
app = Starlette(
    routes=[
        Route("/ping", ping),
        Route("/v1/customers", create_customer, methods=["POST"]),
        Route("/v1/subscriptions", create_subscription, methods=["POST"]),
        Route("/v1/billing_portal/sessions", create_portal_session, methods=["POST"]),
        Route("/portal/subscriptions/{subscription_id}/cancel/reason", cancel_reason, methods=["POST"]),
    ]
)
