"""Checkout sessions: create, find, list, expire (on request, or when their time is up)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, MissingParameter, ResourceMissing
from tenure.api.lists import apply_range, paginate
from tenure.api.metadata import apply_metadata
from tenure.checkout.models import (
    DEFAULT_LIFETIME_SECONDS,
    MIN_LIFETIME_SECONDS,
    CheckoutSession,
    CheckoutStatus,
    PaymentStatus,
    new_checkout_id,
)
from tenure.checkout.schemas import (
    METHOD_TYPES,
    CheckoutSessionCreate,
    CheckoutSessionList,
    CheckoutSessionUpdate,
    serialize_checkout_session,
)
from tenure.checkout.summary import summarize
from tenure.customers.lookup import get_customer
from tenure.events.service import record_event
from tenure.runtime import Runtime
from tenure.subscriptions.common import resolve_discounts
from tenure.subscriptions.create import MAX_TRIAL_DAYS, resolve_prices
from tenure.subscriptions.periods import DAY
from tenure.subscriptions.schemas import DiscountParams, ItemParams

LIST_URL = "/v1/checkout/sessions"
EXPIRY_BATCH = 100


def default_payment_method_types(currency: str) -> list[str]:
    """Card and PayPal everywhere; SEPA Direct Debit only debits euros."""
    return [kind for kind in METHOD_TYPES if kind != "sepa_debit" or currency == "eur"]


def _payment_method_types(params: CheckoutSessionCreate, currency: str) -> list[str]:
    if params.payment_method_types is None:
        return default_payment_method_types(currency)
    types: list[str] = list(dict.fromkeys(params.payment_method_types))
    if "sepa_debit" in types and currency != "eur":
        raise InvalidRequest(
            f"The payment method type `sepa_debit` can only be used with currency `eur`, not `{currency}`.",
            param="payment_method_types",
        )
    return types


def _subscription_data(params: CheckoutSessionCreate, now: int) -> dict[str, Any]:
    data = params.subscription_data
    if data is None:
        return {}
    if data.trial_end is not None and data.trial_period_days is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: trial_end, trial_period_days.",
            param="subscription_data[trial_end]",
        )
    if data.trial_end is not None and not now < data.trial_end <= now + MAX_TRIAL_DAYS * DAY:
        raise InvalidRequest(
            f"subscription_data[trial_end] must be in the future and at most {MAX_TRIAL_DAYS} days away.",
            param="subscription_data[trial_end]",
        )
    stored: dict[str, Any] = {
        "trial_period_days": data.trial_period_days,
        "trial_end": data.trial_end,
        "description": data.description,
        "metadata": apply_metadata(None, data.metadata, param="subscription_data[metadata]"),
    }
    return {key: value for key, value in stored.items() if value not in (None, {})}


def _discounts(
    session: Session, params: CheckoutSessionCreate, *, customer_id: str | None, currency: str, now: int
) -> list[dict[str, Any]] | None:
    if not params.discounts:
        return None
    if params.allow_promotion_codes:
        raise InvalidRequest(
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
            param="discounts",
        )
    requested = [DiscountParams(coupon=d.coupon, promotion_code=d.promotion_code) for d in params.discounts]
    resolved = resolve_discounts(
        session, coupon=None, promotion_code=None, discounts=requested, customer_id=customer_id or "", now=now
    )
    applied = []
    for index, (coupon, promotion_code_id) in enumerate(resolved):
        if coupon.amount_off is not None and coupon.currency != currency:
            field = "promotion_code" if promotion_code_id else "coupon"
            raise InvalidRequest(
                f"Coupon {coupon.id} is in {coupon.currency}; this Checkout Session is in {currency}.",
                param=f"discounts[{index}][{field}]",
            )
        applied.append({"coupon": coupon.id, "promotion_code": promotion_code_id})
    return applied


def _expires_at(params: CheckoutSessionCreate, now: int) -> int:
    if params.expires_at is None:
        return now + DEFAULT_LIFETIME_SECONDS
    if not now + MIN_LIFETIME_SECONDS <= params.expires_at <= now + DEFAULT_LIFETIME_SECONDS:
        raise InvalidRequest(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session "
            "creation.",
            param="expires_at",
        )
    return params.expires_at


def create_checkout_session(
    session: Session, params: CheckoutSessionCreate, *, real_now: int
) -> CheckoutSession:
    """A new open session: every price, the customer and the discounts are checked now (a 400 naming
    the parameter), so that the hosted page only ever fails on what the customer types."""
    if params.mode != "subscription":
        raise InvalidRequest(
            f"Tenure's Checkout supports `mode=subscription` only, not `{params.mode}`.", param="mode"
        )
    if not params.line_items:
        raise MissingParameter("line_items")
    for index, item in enumerate(params.line_items):
        if item.price_data is not None:
            raise InvalidRequest(
                f"price_data is not supported: create a Price and pass its id as line_items[{index}][price].",
                param=f"line_items[{index}][price_data]",
            )
    items = [ItemParams(price=item.price, quantity=item.quantity or 1) for item in params.line_items]
    prices = resolve_prices(session, items, param="line_items")
    currency = prices[0][0].currency
    if params.customer is not None and params.customer_email is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: customer, customer_email.", param="customer_email"
        )
    customer = get_customer(session, params.customer, param="customer") if params.customer else None
    if customer is not None and customer.currency and customer.currency != currency:
        raise InvalidRequest(
            f"The customer's currency is {customer.currency}; these prices are in {currency}.",
            param="line_items[0][price]",
        )
    checkout = CheckoutSession(
        id=new_checkout_id(),
        created=real_now,
        mode=params.mode,
        status=CheckoutStatus.OPEN,
        payment_status=PaymentStatus.UNPAID,
        customer_id=customer.id if customer else None,
        customer_email=params.customer_email,
        client_reference_id=params.client_reference_id,
        line_items=[{"price": price.id, "quantity": quantity} for price, quantity in prices],
        currency=currency,
        amount_subtotal=0,
        amount_total=0,
        amount_discount=0,
        allow_promotion_codes=params.allow_promotion_codes,
        discounts=_discounts(
            session, params, customer_id=customer.id if customer else None, currency=currency, now=real_now
        ),
        locale=params.locale,
        payment_method_types=_payment_method_types(params, currency),
        subscription_data=_subscription_data(params, real_now),
        success_url=params.success_url,
        cancel_url=params.cancel_url,
        expires_at=_expires_at(params, real_now),
        metadata_=apply_metadata(None, params.metadata),
    )
    summary = summarize(session, checkout, now=real_now)
    checkout.amount_subtotal = summary.subtotal_today
    checkout.amount_discount = summary.discount_today
    checkout.amount_total = summary.due_today
    session.add(checkout)
    session.flush()
    return checkout


def get_checkout_session(session: Session, checkout_id: str, *, for_update: bool = False) -> CheckoutSession:
    stmt = select(CheckoutSession).where(CheckoutSession.id == checkout_id)
    if for_update:
        # Re-read under the lock: a concurrent completion may have changed the row since it was loaded.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    checkout = session.scalar(stmt)
    if checkout is None:
        raise ResourceMissing("checkout.session", checkout_id)
    return checkout


def _mark_expired(session: Session, checkout: CheckoutSession, *, now: int, base_url: str) -> None:
    checkout.status = CheckoutStatus.EXPIRED
    session.flush()
    record_event(
        session,
        type="checkout.session.expired",
        obj=serialize_checkout_session(checkout, base_url=base_url),
        now=now,
    )


def expire_if_due(session: Session, checkout: CheckoutSession, *, now: int, base_url: str) -> bool:
    """Expire an open session whose time is up (recording `checkout.session.expired`); True if it did."""
    if not checkout.is_due_to_expire(now):
        return False
    _mark_expired(session, checkout, now=now, base_url=base_url)
    return True


def expire_checkout_session(
    session: Session, checkout_id: str, *, real_now: int, base_url: str
) -> CheckoutSession:
    """`POST /v1/checkout/sessions/{id}/expire`: an open session can no longer be completed."""
    checkout = get_checkout_session(session, checkout_id, for_update=True)
    if checkout.status != CheckoutStatus.OPEN:
        raise InvalidRequest(
            f'Only Checkout Sessions with a `status` in ["open"] can be expired; this one is '
            f"{checkout.status}."
        )
    _mark_expired(session, checkout, now=real_now, base_url=base_url)
    return checkout


def update_checkout_session(
    session: Session, checkout_id: str, params: CheckoutSessionUpdate
) -> CheckoutSession:
    """Only `metadata` changes (Stripe's other updatable fields are for shipping and line items)."""
    checkout = get_checkout_session(session, checkout_id, for_update=True)
    if "metadata" in params.model_fields_set:
        checkout.metadata_ = apply_metadata(checkout.metadata_, params.metadata)
    session.flush()
    return checkout


def retrieve_checkout_session(
    session: Session, checkout_id: str, *, real_now: int, base_url: str
) -> CheckoutSession:
    """A session, expired first if its time is up (so that `status` never says open past `expires_at`)."""
    checkout = get_checkout_session(session, checkout_id)
    if checkout.is_due_to_expire(real_now):
        checkout = get_checkout_session(session, checkout_id, for_update=True)
        expire_if_due(session, checkout, now=real_now, base_url=base_url)
    return checkout


def expire_due(session: Session, *, now: int, base_url: str, limit: int = EXPIRY_BATCH) -> int:
    """Expire up to `limit` open sessions whose time is up; returns how many."""
    stmt = (
        select(CheckoutSession)
        .where(CheckoutSession.status == CheckoutStatus.OPEN, CheckoutSession.expires_at <= now)
        .order_by(CheckoutSession.expires_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    due = list(session.scalars(stmt))
    for checkout in due:
        _mark_expired(session, checkout, now=now, base_url=base_url)
    return len(due)


def run_expiry(runtime: Runtime) -> int:
    """Periodic task: expire the sessions whose time is up, a batch per transaction."""
    done = 0
    while True:
        with runtime.sessionmaker() as session:
            count = expire_due(session, now=runtime.clock.now(), base_url=runtime.settings.public_base_url)
            session.commit()
        done += count
        if count < EXPIRY_BATCH:
            return done


def list_checkout_sessions(
    session: Session, params: CheckoutSessionList, *, real_now: int, base_url: str
) -> dict[str, Any]:
    """Newest first; sessions whose time is up are expired first, so none is listed as open."""
    expire_due(session, now=real_now, base_url=base_url)
    stmt = select(CheckoutSession)
    if params.customer is not None:
        stmt = stmt.where(CheckoutSession.customer_id == params.customer)
    if params.status is not None:
        stmt = stmt.where(CheckoutSession.status == params.status)
    if params.subscription is not None:
        stmt = stmt.where(CheckoutSession.subscription_id == params.subscription)
    stmt = apply_range(stmt, CheckoutSession.created, params.created)
    return paginate(
        session,
        stmt,
        CheckoutSession,
        params,
        url=LIST_URL,
        serialize=lambda checkout: serialize_checkout_session(checkout, base_url=base_url),
    )
