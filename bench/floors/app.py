"""The API floor: a minimal Starlette app doing the same SQL writes as Tenure's endpoints, by hand.

Served like Tenure (`uvicorn bench.floors.app:app --workers 2 --http httptools --loop uvloop`)
on the same database with the same driver, so the ratio Tenure/floor is what the framework,
the ORM, validation and serialization cost on top of the unavoidable work. Each handler runs
the reads the work needs and exactly the INSERTs/UPDATEs Tenure issues (see
docs in BENCHMARKS.md), in one transaction (BEGIN IMMEDIATE on SQLite, as Tenure).

Environment: FLOOR_DATABASE_URL (SQLAlchemy-style URL), FLOOR_TEMPLATES (a JSON file with the
`customer`, `subscription` and `invoice` objects Tenure returned, so responses and event
payloads have the same size).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import string
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.floors.sql import Database, Runner

_ALPHABET = string.ascii_letters + string.digits
API_VERSION = "2025-03-31.basil"
MONTH = 30 * 86400

database = Database(os.environ.get("FLOOR_DATABASE_URL", "sqlite:///floor.sqlite3"))
_templates_path = os.environ.get("FLOOR_TEMPLATES")
TEMPLATES: dict[str, dict[str, Any]] = (
    json.loads(Path(_templates_path).read_text()) if _templates_path else {}
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, separators=(",", ":")), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": {"type": "invalid_request_error", "message": message}}, status)


def _authenticate(run: Runner, request_secret: str) -> bool:
    row = run.one(
        "SELECT id, revoked_at, expires_at FROM api_keys WHERE secret_hash = ?",
        (hashlib.sha256(request_secret.encode()).hexdigest(),),
    )
    return row is not None and row[1] is None


def _secret(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def _record_event(run: Runner, *, type_: str, obj: dict[str, Any], now: int) -> None:
    run.run(
        "INSERT INTO events (type, object_id, data, api_version, request_id, idempotency_key, "
        "pending_webhooks, id, created, livemode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            type_,
            obj["id"],
            json.dumps({"object": obj}),
            API_VERSION,
            None,
            None,
            0,
            new_id("evt"),
            now,
            False,
        ),
    )
    # The webhook listener's query: which enabled endpoints want this event.
    run.all("SELECT id, enabled_events FROM webhook_endpoints WHERE status = ?", ("enabled",))


# --- POST /v1/customers ----------------------------------------------------------------------


def _create_customer(secret: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    customer = dict(TEMPLATES.get("customer") or {"object": "customer"})
    customer.update(
        id=new_id("cus"),
        created=now,
        email=form.get("email"),
        name=form.get("name"),
        invoice_prefix="".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
        next_invoice_sequence=1,
        metadata={},
    )
    with database.transaction() as run:
        if not _authenticate(run, secret):
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
        run.run(
            "INSERT INTO customers (email, name, phone, description, address, preferred_locales, balance, "
            "currency, default_payment_method_id, test_clock_id, deleted, marketing_opt_out, invoice_prefix, "
            "next_invoice_sequence, id, created, livemode, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        _record_event(run, type_="customer.created", obj=customer, now=now)
    return 200, customer


async def create_customer(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    status, body = await run_in_threadpool(_create_customer, _secret(request), form)
    return _json(body, status)


# --- POST /v1/subscriptions ------------------------------------------------------------------


def _create_subscription(secret: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    with database.transaction() as run:
        if not _authenticate(run, secret):
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
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
        invoice = dict(TEMPLATES.get("invoice") or {"object": "invoice"})
        invoice.update(id=invoice_id, customer=customer_id, number=number, created=now, status="open")
        _record_event(run, type_="invoice.created", obj=invoice, now=now)
        run.run("UPDATE subscriptions SET latest_invoice_id = ? WHERE id = ?", (invoice_id, subscription_id))
        _record_event(run, type_="invoice.finalized", obj=invoice, now=now)
        # The test processor's charge: read the method, mark the invoice paid.
        run.one("SELECT id, type, behaviour FROM payment_methods WHERE id = ?", (pm_id,))
        run.run(
            "UPDATE invoices SET status = ?, amount_paid = ?, amount_remaining = ?, attempt_count = ?, "
            "attempted = ?, next_payment_attempt = ?, paid_at = ?, last_payment_error = ? WHERE id = ?",
            ("paid", amount, 0, 1, True, None, now, "null", invoice_id),
        )
        invoice.update(status="paid", amount_paid=amount, amount_remaining=0)
        _record_event(run, type_="invoice.paid", obj=invoice, now=now)
        _record_event(run, type_="invoice.payment_succeeded", obj=invoice, now=now)
        run.run(
            "UPDATE subscriptions SET status = ?, next_action_at = ? WHERE id = ?",
            ("active", period_end, subscription_id),
        )
        subscription = dict(TEMPLATES.get("subscription") or {"object": "subscription"})
        subscription.update(
            id=subscription_id,
            customer=customer_id,
            created=now,
            status="active",
            latest_invoice=invoice_id,
        )
        _record_event(run, type_="customer.subscription.created", obj=subscription, now=now)
    return 200, subscription


async def create_subscription(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    status, body = await run_in_threadpool(_create_subscription, _secret(request), form)
    return _json(body, status)


# --- POST /v1/billing_portal/sessions -----------------------------------------------------------


def _create_portal_session(secret: str, form: dict[str, str], base_url: str) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    with database.transaction() as run:
        if not _authenticate(run, secret):
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
        customer = run.one(
            "SELECT id, preferred_locales FROM customers WHERE id = ?", (form.get("customer"),)
        )
        configuration = run.one(
            "SELECT id, features FROM portal_configurations WHERE is_default = ? ORDER BY pk LIMIT 1", (True,)
        )
        if customer is None or configuration is None:
            return 400, {"error": {"type": "invalid_request_error", "message": "No such customer"}}
        token = secrets.token_urlsafe(32)
        session = dict(TEMPLATES.get("portal_session") or {"object": "billing_portal.session"})
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
            f"created, "
            f"livemode) VALUES ({_marks(13)})",
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
        _record_event(run, type_="billing_portal.session.created", obj=session, now=now)
    return 200, session


async def create_portal_session(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    base_url = f"{request.url.scheme}://{request.url.netloc}"
    status, body = await run_in_threadpool(_create_portal_session, _secret(request), form, base_url)
    return _json(body, status)


# --- the portal's final cancel POST (reason given, no offer) -------------------------------------


def _csrf(session_id: str) -> str:
    key = os.environ.get("FLOOR_SECRET_KEY", "")
    return hmac.new(key.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def _cancel(token: str, subscription_id: str, form: dict[str, str]) -> tuple[int, str]:
    now = int(time.time())
    with database.transaction() as run:
        session = run.one(
            "SELECT id, customer_id, configuration_id, browser_expires_at FROM portal_sessions "
            "WHERE browser_token_hash = ?",
            (hashlib.sha256(token.encode()).hexdigest(),),
        )
        if session is None or (session[3] or 0) <= now:
            return 401, "session expired"
        run.one("SELECT id, preferred_locales, deleted FROM customers WHERE id = ?", (session[1],))
        run.one("SELECT id, features, tenure FROM portal_configurations WHERE id = ?", (session[2],))
        if not hmac.compare_digest(_csrf(session[0]), form.get("csrf_token", "")):
            return 403, "csrf"
        lock = "" if database.kind == "sqlite" else " FOR UPDATE"
        subscription = run.one(
            "SELECT pk, id, status, cancel_at_period_end, canceled_at, cancellation_details "
            "FROM subscriptions "
            f"WHERE id = ? AND customer_id = ?{lock}",
            (subscription_id, session[1]),
        )
        if subscription is None:
            return 404, "not found"
        run.all(
            "SELECT price_id, quantity FROM subscription_items WHERE subscription_id = ?", (subscription_id,)
        )
        flow = run.one(
            "SELECT pk, completed_at FROM cancellation_flows WHERE id = ? AND subscription_id = ?",
            (form.get("flow"), subscription_id),
        )
        if flow is None:
            return 409, "flow expired"
        if flow[1] is not None:
            return 303, "/portal?notice=canceled"
        reason = form.get("reason") or None
        run.run(
            "UPDATE cancellation_flows SET reason_code = ?, feedback = ?, reason_at = ? WHERE pk = ?",
            (reason, reason, now, flow[0]),
        )
        # Offer eligibility: an active discount, or an offer accepted within the cooldown.
        run.all(
            "SELECT id FROM discounts WHERE subscription_id = ? AND removed_at IS NULL", (subscription_id,)
        )
        run.all(
            "SELECT pk FROM cancellation_flows WHERE subscription_id = ? AND offer_response = ? "
            "AND offer_responded_at >= ?",
            (subscription_id, "accepted", now - 90 * 86400),
        )
        details = {
            "comment": form.get("comment") or None,
            "feedback": reason,
            "reason": "cancellation_requested",
        }
        run.run(
            "UPDATE subscriptions SET cancel_at_period_end = ?, canceled_at = ?, cancellation_details = ? "
            "WHERE pk = ?",
            (True, now, json.dumps(details), subscription[0]),
        )
        obj = dict(TEMPLATES.get("subscription") or {"object": "subscription"})
        obj.update(
            id=subscription_id, cancel_at_period_end=True, canceled_at=now, cancellation_details=details
        )
        run.run(
            "INSERT INTO events (type, object_id, data, api_version, request_id, idempotency_key, "
            f"pending_webhooks, id, created, livemode) VALUES ({_marks(10)})",
            (
                "customer.subscription.updated",
                subscription_id,
                json.dumps(
                    {
                        "object": obj,
                        "previous_attributes": {
                            "cancel_at_period_end": False,
                            "canceled_at": None,
                            "cancellation_details": {"feedback": None, "reason": None},
                        },
                    }
                ),
                API_VERSION,
                None,
                None,
                0,
                new_id("evt"),
                now,
                False,
            ),
        )
        run.all("SELECT id, enabled_events FROM webhook_endpoints WHERE status = ?", ("enabled",))
        run.run(
            "UPDATE cancellation_flows SET outcome = ?, completed_at = ?, mode = ? WHERE pk = ?",
            ("canceled", now, "at_period_end", flow[0]),
        )
    return 303, "/portal?notice=canceled"


async def cancel_reason(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    token = request.cookies.get("tenure_portal", "")
    subscription_id = request.path_params["subscription_id"]
    status, where = await run_in_threadpool(_cancel, token, subscription_id, form)
    if status == 303:
        return Response(status_code=303, headers={"Location": where})
    return PlainTextResponse(where, status_code=status)


async def ping(_request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/ping", ping),
        Route("/v1/customers", create_customer, methods=["POST"]),
        Route("/v1/subscriptions", create_subscription, methods=["POST"]),
        Route("/v1/billing_portal/sessions", create_portal_session, methods=["POST"]),
        Route("/portal/subscriptions/{subscription_id}/cancel/reason", cancel_reason, methods=["POST"]),
    ]
)
