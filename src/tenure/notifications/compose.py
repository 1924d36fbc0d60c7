"""Turning a queued outbox row into the email itself, on its first attempt (retries resend it as is).

Composing happens in the worker, which knows the public URL, the secret that signs links and the
operator's address; the row only holds the facts captured when its cause happened. Whoever the
email goes to is decided here: the customer's current address and language (`preferred_locales`),
and for marketing emails their consent (`tenure_marketing_opt_out`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.config import Settings
from tenure.customers.models import Customer
from tenure.notifications import content as texts
from tenure.notifications.content import Brand, Content, Writer
from tenure.notifications.links import PORTAL_LINK_SECONDS, PortalLink, portal_link_token, unsubscribe_token
from tenure.notifications.models import Category, EmailCampaign, Kind, MessageStatus, OutboxMessage
from tenure.notifications.render import build_message
from tenure.portal.login_links import LINK_SECONDS, PortalLoginLink, link_token
from tenure.portal.models import PortalConfiguration
from tenure.retention.reasons import LABELS
from tenure.subscriptions.models import Subscription, SubscriptionStatus
from tenure.web.i18n import DEFAULT_LOCALE, negotiate, supported

DEFAULT_BRAND = "Billing"


@dataclass(frozen=True)
class Composed:
    to: str
    locale: str
    subject: str
    message: EmailMessage


@dataclass(frozen=True)
class NotSent:
    status: MessageStatus  # SKIPPED or SUPPRESSED
    reason: str


def load_brand(session: Session, settings: Settings, configuration_id: str | None = None) -> Brand:
    """The operator's branding and texts, from the named portal configuration or the default one."""
    stmt = select(PortalConfiguration)
    stmt = (
        stmt.where(PortalConfiguration.id == configuration_id)
        if configuration_id
        else stmt.where(PortalConfiguration.is_default.is_(True))
    )
    configuration = session.scalar(stmt)
    display, _address = parseaddr(settings.mail_from)
    if configuration is None:
        return Brand(name=display or DEFAULT_BRAND, logo_url=None, accent=None, texts={})
    branding = configuration.branding
    headline = (configuration.business_profile or {}).get("headline")
    return Brand(
        name=branding.get("name") or display or headline or DEFAULT_BRAND,
        logo_url=branding.get("logo_url"),
        accent=branding.get("accent_color"),
        texts=configuration.texts,
    )


def message_domain(settings: Settings) -> str:
    _display, address = parseaddr(settings.mail_from)
    return address.rpartition("@")[2] or "localhost"


def _portal_linker(settings: Settings, customer_id: str, *, now: int) -> Callable[[str | None], str]:
    secret = settings.resolved_secret_key()
    base = settings.public_base_url

    def link(flow: str | None) -> str:
        token = portal_link_token(
            secret, PortalLink(customer=customer_id, flow=flow, expires_at=now + PORTAL_LINK_SECONDS)
        )
        return f"{base}/portal/email-link/{token}"

    return link


def _no_links(_flow: str | None) -> str:
    return ""


def _still_scheduled(session: Session, subscription_id: str) -> bool:
    subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    return (
        subscription is not None
        and subscription.status not in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)
        and (subscription.cancel_at_period_end or subscription.cancel_at is not None)
    )


def _reason_labeler(locale: str) -> Callable[[str], str]:
    def label(feedback: str) -> str:
        if feedback not in LABELS:
            return feedback
        return LABELS[feedback].get(locale) or LABELS[feedback]["en"]

    return label


def compose(session: Session, row: OutboxMessage, *, settings: Settings, now: int) -> Composed | NotSent:
    """The email for `row`, or why none goes out. `now` is real time (the Date header, link expiry)."""
    if row.category == Category.OPERATOR:
        return _compose_for_operator(session, row, settings=settings, now=now)
    customer = session.scalar(select(Customer).where(Customer.id == row.customer_id))
    if customer is None or customer.deleted:
        return NotSent(MessageStatus.SKIPPED, "the customer was deleted")
    if not customer.email:
        return NotSent(MessageStatus.SKIPPED, "the customer has no email address")
    if row.category == Category.MARKETING and customer.marketing_opt_out:
        return NotSent(MessageStatus.SUPPRESSED, "the customer unsubscribed from marketing emails")
    locale = negotiate(
        session_locale=None, preferred=list(customer.preferred_locales or []), accept_language=None
    )
    data = dict(row.data or {})
    brand = load_brand(session, settings, data.get("configuration"))
    writer = Writer(locale=locale, brand=brand, portal_link=_portal_linker(settings, customer.id, now=now))
    headers = {"Auto-Submitted": "auto-generated", "X-Tenure-Kind": row.kind}
    built = _customer_content(session, row, writer, data, customer, settings=settings, now=now)
    if isinstance(built, NotSent):
        return built
    if row.category == Category.MARKETING:
        unsubscribe = built.unsubscribe.url if built.unsubscribe else ""
        headers = {
            "X-Tenure-Kind": row.kind,
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Precedence": "bulk",
        }
    return _finish(
        row, built, brand=brand, locale=locale, to=customer.email, settings=settings, now=now, headers=headers
    )


def _customer_content(
    session: Session,
    row: OutboxMessage,
    writer: Writer,
    values: dict[str, Any],
    customer: Customer,
    *,
    settings: Settings,
    now: int,
) -> Content | NotSent:
    name = customer.name
    kind = row.kind
    if kind == Kind.RENEWAL_REMINDER:
        return texts.renewal_reminder(writer, values, name)
    if kind == Kind.PAYMENT_FAILED:
        return texts.payment_failed(writer, values, name)
    if kind == Kind.TRIAL_ENDING:
        return texts.trial_ending(writer, values, name)
    if kind == Kind.CANCELLATION:
        still = bool(values.get("scheduled")) and _still_scheduled(session, str(values["subscription"]))
        if values.get("scheduled") and not still and not _ended(session, str(values["subscription"])):
            return NotSent(MessageStatus.SKIPPED, "the cancellation was undone before the email went out")
        return texts.cancellation(writer, values, name, still_scheduled=still)
    if kind == Kind.OFFER_ACCEPTED:
        return texts.offer_accepted(writer, values, name)
    if kind == Kind.PORTAL_LOGIN:
        link = session.scalar(select(PortalLoginLink).where(PortalLoginLink.id == values.get("link")))
        if link is None or link.used_at is not None or link.expires_at <= now:
            return NotSent(MessageStatus.SKIPPED, "the sign-in link expired before the email went out")
        token = link_token(settings.resolved_secret_key(), link.id)
        url = f"{settings.public_base_url}/portal/sign-in/{token}"
        return texts.portal_login(writer, {**values, "minutes": LINK_SECONDS // 60}, name, url=url)
    if kind in (Kind.WIN_BACK, Kind.ANNOUNCEMENT):
        campaign = session.scalar(select(EmailCampaign).where(EmailCampaign.id == row.campaign_id))
        if campaign is None:
            return NotSent(MessageStatus.SKIPPED, "the campaign no longer exists")
        localized = campaign_text(campaign, writer.locale)
        token = unsubscribe_token(settings.resolved_secret_key(), customer.id)
        return texts.marketing(
            writer,
            subject=localized["subject"],
            body=localized["body"],
            button=localized.get("button"),
            url=campaign.url,
            promotion_code=campaign.promotion_code,
            unsubscribe_url=f"{settings.public_base_url}/email/unsubscribe/{token}",
            name=name,
        )
    return NotSent(MessageStatus.SKIPPED, f"unknown email kind {kind!r}")


def _ended(session: Session, subscription_id: str) -> bool:
    subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    return subscription is not None and subscription.status == SubscriptionStatus.CANCELED


def campaign_text(campaign: EmailCampaign, locale: str) -> dict[str, str]:
    """The campaign's words in `locale`, each missing one taken from English."""
    content = campaign.content or {}
    english: dict[str, str] = dict(content.get(DEFAULT_LOCALE) or {})
    localized: dict[str, str] = dict(content.get(locale) or {})
    return {key: localized.get(key) or english.get(key) or "" for key in ("subject", "body", "button")}


def _compose_for_operator(
    session: Session, row: OutboxMessage, *, settings: Settings, now: int
) -> Composed | NotSent:
    if not settings.operator_email:
        return NotSent(MessageStatus.SKIPPED, "no operator address (TENURE_OPERATOR_EMAIL) is set")
    locale = supported(settings.operator_locale) or DEFAULT_LOCALE
    brand = load_brand(session, settings)
    writer = Writer(locale=locale, brand=brand, portal_link=_no_links)
    data = dict(row.data or {})
    if row.kind == Kind.ENDPOINT_DISABLED:
        built = texts.endpoint_disabled(writer, data)
    elif row.kind == Kind.CANCELLATION_DIGEST:
        built = texts.cancellation_digest(writer, data, _reason_labeler(locale))
    else:
        return NotSent(MessageStatus.SKIPPED, f"unknown email kind {row.kind!r}")
    headers = {"Auto-Submitted": "auto-generated", "X-Tenure-Kind": row.kind}
    return _finish(
        row,
        built,
        brand=brand,
        locale=locale,
        to=settings.operator_email,
        settings=settings,
        now=now,
        headers=headers,
    )


def _finish(
    row: OutboxMessage,
    built: Content,
    *,
    brand: Brand,
    locale: str,
    to: str,
    settings: Settings,
    now: int,
    headers: dict[str, str],
) -> Composed:
    message = build_message(
        built,
        brand=brand,
        locale=locale,
        mail_from=settings.mail_from,
        to=to,
        message_id=f"<{row.id}@{message_domain(settings)}>",
        sent_at=now,
        headers={**headers, "X-Tenure-Message": row.id},
    )
    return Composed(to=to, locale=locale, subject=built.subject, message=message)
