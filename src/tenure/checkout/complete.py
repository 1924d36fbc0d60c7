"""Completing a checkout: customer, payment method and subscription in ONE transaction.

Every step goes through the service the API uses. The first charge is made with
`payment_behavior=error_if_incomplete`, so a declined or failed payment raises and the caller
rolls back everything (customer, payment method, subscription, events): nothing is half-created,
and the same session can simply be tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.billing_context import BillingContext
from tenure.checkout.models import CheckoutSession, CheckoutStatus, PaymentStatus
from tenure.checkout.schemas import serialize_checkout_session
from tenure.checkout.service import get_checkout_session
from tenure.checkout.summary import summarize
from tenure.coupons.models import PromotionCode
from tenure.coupons.service import find_active_code
from tenure.customers.lookup import customer_now, get_customer
from tenure.customers.models import Customer
from tenure.customers.schemas import CustomerCreate, CustomerUpdate, InvoiceSettingsParams
from tenure.customers.service import create_customer, update_customer
from tenure.events.service import record_event
from tenure.invoices.models import Invoice
from tenure.payments import service as payment_methods
from tenure.payments.models import PaymentMethod
from tenure.payments.schemas import (
    BillingDetailsParams,
    CardParams,
    PaymentMethodCreate,
    PaypalParams,
    SepaDebitParams,
)
from tenure.subscriptions.create import create_subscription
from tenure.subscriptions.models import LIVE_STATUSES, Discount, Subscription, SubscriptionStatus
from tenure.subscriptions.schemas import DiscountParams, ItemParams, SubscriptionCreate

# The key a returning customer's new subscription carries in its metadata (see docs/checkout.md).
REACTIVATION_KEY = "tenure_reactivation_of"
MAX_METADATA_KEYS = 50


class CheckoutClosed(InvalidRequest):
    """The session expired (or was expired) before it could be completed."""

    status_code = 410
    code = "checkout_session_expired"


@dataclass(frozen=True)
class PaymentDetails:
    """What the customer typed for one payment method; handed to the processor, never stored."""

    type: str  # card | sepa_debit | paypal
    card_number: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    cvc: str | None = None
    iban: str | None = None
    payer_email: str | None = None

    def params(self, *, name: str, email: str) -> PaymentMethodCreate:
        billing = BillingDetailsParams(name=name, email=email)
        if self.type == "card":
            card = CardParams(
                number=self.card_number, exp_month=self.exp_month, exp_year=self.exp_year, cvc=self.cvc
            )
            return PaymentMethodCreate(type="card", card=card, billing_details=billing)
        if self.type == "sepa_debit":
            iban = SepaDebitParams(iban=self.iban)
            return PaymentMethodCreate(type="sepa_debit", sepa_debit=iban, billing_details=billing)
        paypal = PaypalParams(payer_email=self.payer_email or email)
        return PaymentMethodCreate(type="paypal", paypal=paypal, billing_details=billing)


@dataclass(frozen=True)
class Submission:
    email: str
    name: str
    payment: PaymentDetails
    promotion_code: str | None  # the code the customer applied on the page
    locale: str


def checkout_promotion_code(
    session: Session, checkout: CheckoutSession, code: str, *, now: int, customer_id: str | None = None
) -> PromotionCode:
    """The promotion code a customer typed, if this session takes codes and it applies to it.

    Raises `InvalidRequest` naming `promotion_code` otherwise.
    """
    if not checkout.allow_promotion_codes:
        raise InvalidRequest("This Checkout Session does not accept promotion codes.", param="promotion_code")
    promotion = find_active_code(session, code.strip(), now)
    if promotion is None:
        raise InvalidRequest(
            f"No usable promotion code: {code!r}", param="promotion_code", code="coupon_expired"
        )
    coupon = promotion.coupon
    if coupon.amount_off is not None and coupon.currency != checkout.currency:
        raise InvalidRequest("This promotion code is for another currency.", param="promotion_code")
    owner = customer_id or checkout.customer_id
    if promotion.customer_id is not None and promotion.customer_id != owner:
        raise InvalidRequest("This promotion code is for another customer.", param="promotion_code")
    minimum = promotion.restrictions_minimum_amount
    if (
        minimum is not None
        and promotion.restrictions_minimum_amount_currency == checkout.currency
        and summarize(session, checkout, now=now).recurring_amount < minimum
    ):
        raise InvalidRequest("This order is below the code's minimum amount.", param="promotion_code")
    return promotion


def returning_customer(session: Session, email: str) -> Customer | None:
    """The newest live customer with this email (not one on a test clock), if any."""
    return session.scalar(
        select(Customer)
        .where(
            Customer.email.in_({email, email.lower()}),
            Customer.deleted.is_(False),
            Customer.test_clock_id.is_(None),
        )
        .order_by(Customer.pk.desc())
        .limit(1)
    )


def reactivated_subscription(session: Session, customer: Customer) -> str | None:
    """The customer's last canceled subscription, when every subscription they had is canceled:
    subscribing again is then a reactivation (None for new customers and current subscribers)."""
    rows = session.execute(
        select(
            Subscription.id,
            Subscription.status,
            Subscription.ended_at,
            Subscription.canceled_at,
            Subscription.pk,
        ).where(Subscription.customer_id == customer.id)
    ).all()
    if not rows or any(row.status in LIVE_STATUSES for row in rows):
        return None
    canceled = [row for row in rows if row.status == SubscriptionStatus.CANCELED]
    if not canceled:
        return None
    last = max(canceled, key=lambda row: (row.ended_at or row.canceled_at or 0, row.pk))
    return str(last.id)


def _complete_profile(
    session: Session, customer: Customer, pm: PaymentMethod, submission: Submission, *, real_now: int
) -> None:
    """A recognized customer keeps their details; only what is missing is filled in."""
    changes: dict[str, Any] = {}
    if customer.default_payment_method_id is None:
        changes["invoice_settings"] = InvoiceSettingsParams(default_payment_method=pm.id)
    if not customer.name and submission.name:
        changes["name"] = submission.name
    if not customer.email:
        changes["email"] = submission.email
    if changes:
        update_customer(session, customer.id, CustomerUpdate(**changes), real_now=real_now)


def _discounts(
    session: Session,
    checkout: CheckoutSession,
    submission: Submission,
    *,
    customer: Customer | None,
    now: int,
) -> list[DiscountParams] | None:
    if checkout.discounts:
        return [
            DiscountParams(
                coupon=entry.get("coupon") if not entry.get("promotion_code") else None,
                promotion_code=entry.get("promotion_code"),
            )
            for entry in checkout.discounts
        ]
    if submission.promotion_code:
        promotion = checkout_promotion_code(
            session,
            checkout,
            submission.promotion_code,
            now=now,
            customer_id=customer.id if customer else None,
        )
        return [DiscountParams(promotion_code=promotion.id)]
    return None


def _subscription_metadata(checkout: CheckoutSession, reactivation_of: str | None) -> dict[str, str]:
    metadata = dict((checkout.subscription_data or {}).get("metadata") or {})
    if reactivation_of is not None and len(metadata) < MAX_METADATA_KEYS:
        metadata[REACTIVATION_KEY] = reactivation_of
    return metadata


def complete_checkout(
    session: Session,
    checkout_id: str,
    submission: Submission,
    *,
    context: BillingContext,
    real_now: int,
    base_url: str,
) -> CheckoutSession:
    """Create or recognize the customer, attach the payment method, create the subscription (trial
    included) and record `checkout.session.completed`. A completed session is returned as it is."""
    checkout = get_checkout_session(session, checkout_id, for_update=True)
    if checkout.status == CheckoutStatus.COMPLETE:
        return checkout
    if checkout.status != CheckoutStatus.OPEN or checkout.is_due_to_expire(real_now):
        raise CheckoutClosed("This Checkout Session has expired.")
    customer = get_customer(session, checkout.customer_id, param=None) if checkout.customer_id else None
    email = (customer.email if customer is not None else None) or submission.email
    if customer is None:
        customer = returning_customer(session, email)
    discounts = _discounts(session, checkout, submission, customer=customer, now=real_now)
    pm = payment_methods.create_payment_method(
        session,
        submission.payment.params(name=submission.name, email=email),
        processor=context.processor,
        now=real_now,
    )
    reactivation_of = None
    if customer is None:
        customer = create_customer(
            session,
            CustomerCreate(
                email=email,
                name=submission.name,
                preferred_locales=[submission.locale],
                payment_method=pm.id,
                invoice_settings=InvoiceSettingsParams(default_payment_method=pm.id),
            ),
            processor=context.processor,
            real_now=real_now,
        )
    else:
        reactivation_of = reactivated_subscription(session, customer)
        payment_methods.attach(session, pm, customer, real_now=real_now, param=None)
        _complete_profile(session, customer, pm, submission, real_now=real_now)
    data = checkout.subscription_data or {}
    subscription = create_subscription(
        session,
        SubscriptionCreate(
            customer=customer.id,
            items=[
                ItemParams(price=entry["price"], quantity=entry["quantity"]) for entry in checkout.line_items
            ],
            default_payment_method=pm.id,
            trial_period_days=data.get("trial_period_days"),
            trial_end=data.get("trial_end"),
            discounts=discounts,
            description=data.get("description"),
            metadata=_subscription_metadata(checkout, reactivation_of),
            payment_behavior="error_if_incomplete",
        ),
        real_now=real_now,
        context=context,
    )
    invoice = session.scalar(select(Invoice).where(Invoice.id == subscription.latest_invoice_id))
    assert invoice is not None  # creating a subscription always invoices its first period
    applied = session.scalars(
        select(Discount).where(Discount.subscription_id == subscription.id).order_by(Discount.pk)
    ).all()
    checkout.status = CheckoutStatus.COMPLETE
    checkout.payment_status = PaymentStatus.PAID if invoice.total > 0 else PaymentStatus.NO_PAYMENT_REQUIRED
    checkout.customer_id = customer.id
    checkout.subscription_id = subscription.id
    checkout.invoice_id = invoice.id
    checkout.amount_subtotal = invoice.subtotal
    checkout.amount_total = invoice.total
    checkout.amount_discount = invoice.subtotal - invoice.total
    checkout.discounts = [
        {"coupon": d.coupon_id, "promotion_code": d.promotion_code_id} for d in applied
    ] or checkout.discounts
    checkout.customer_details = {
        "address": None,
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": submission.name or customer.name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    checkout.reactivation_of = reactivation_of
    checkout.completed_at = real_now
    session.flush()
    record_event(
        session,
        type="checkout.session.completed",
        obj=serialize_checkout_session(checkout, base_url=base_url),
        now=customer_now(session, customer, real_now),
    )
    return checkout
