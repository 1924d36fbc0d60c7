"""What each email says, in the recipient's language: subject, paragraphs, facts, one button.

Every string is a gettext message (translated in `locales/<locale>/LC_MESSAGES/emails.po`); the
values put into them (names, plans, operator texts, customers' comments) are plain text here and
escaped when the HTML part is rendered. Operators override the opening paragraph of each email per
locale with `tenure_texts[<locale>][email_<kind>]`, and the signature with `email_signature`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from babel import Locale
from babel.numbers import format_percent

from tenure.insights.categories import OTHER_LABELS, category
from tenure.notifications.models import Kind
from tenure.web.i18n import format_day, format_moment, format_money, translations


@dataclass(frozen=True)
class Action:
    label: str
    url: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Content:
    subject: str
    greeting: str | None = None
    paragraphs: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    action: Action | None = None
    closing: list[str] = field(default_factory=list)
    table: Table | None = None
    signature: str | None = None
    footer: list[str] = field(default_factory=list)
    unsubscribe: Action | None = None
    # Labels the layout needs ("If the button does not work…"), translated like the rest.
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str | None
    accent: str | None
    texts: dict[str, dict[str, str]]

    def text(self, locale: str, key: str) -> str | None:
        value = (self.texts.get(locale) or {}).get(key)
        return str(value) if value else None


@dataclass(frozen=True)
class Writer:
    """What the texts of one email need: the language, the brand, and how to build links."""

    locale: str
    brand: Brand
    portal_link: Callable[[str | None], str]  # flow (None: the portal home) -> URL

    def _(self, message: str) -> str:
        return str(translations(self.locale).gettext(message))

    def money(self, amount: int, currency: str) -> str:
        return format_money(int(amount), str(currency), self.locale)

    def day(self, timestamp: int) -> str:
        return format_day(int(timestamp), self.locale)

    def moment(self, timestamp: int) -> str:
        return format_moment(int(timestamp), self.locale)

    def percent(self, value: float) -> str:
        return str(format_percent(value / 100, locale=Locale.parse(self.locale)))

    def override(self, kind: str) -> str | None:
        return self.brand.text(self.locale, f"email_{kind}")


def interval_words(w: Writer, interval: str | None) -> str:
    _ = w._
    if interval == "year":
        return _("per year")
    if interval == "week":
        return _("per week")
    if interval == "day":
        return _("per day")
    return _("per month")


def _customer_frame(w: Writer, content: Content, name: str | None) -> Content:
    """Greeting, signature and footer of every email to a customer."""
    _ = w._
    content.greeting = _("Hello %(name)s,") % {"name": name} if name else _("Hello,")
    content.signature = w.brand.text(w.locale, "email_signature") or _("The %(brand)s team") % {
        "brand": w.brand.name
    }
    content.labels = {
        "fallback": _("If the button does not work, copy this address into your browser:"),
    }
    return content


def _transactional_footer(w: Writer, content: Content) -> Content:
    content.footer.append(
        w._("You receive this email because you have an account with %(brand)s.") % {"brand": w.brand.name}
    )
    return content


# --- subscriber emails ---------------------------------------------------------------------------


def renewal_reminder(w: Writer, data: dict[str, Any], name: str | None) -> Content:
    _ = w._
    values = {"plan": data["plan"], "date": w.day(data["payment_date"])}
    content = Content(subject=_("Your %(plan)s subscription renews on %(date)s") % values)
    content.paragraphs.append(
        w.override(Kind.RENEWAL_REMINDER)
        or _("This is a reminder that your %(plan)s subscription renews on %(date)s.") % values
    )
    content.facts = [
        (_("Payment date"), values["date"]),
        (_("Amount"), w.money(data["amount"], data["currency"])),
    ]
    if data.get("discounted"):
        content.facts.append((_("Discount"), _("Included in the amount above")))
    content.closing.append(
        _(
            "Nothing to do if you want to keep it. To change your plan or payment method, "
            "or to cancel, visit your account."
        )
    )
    content.action = Action(_("Manage your subscription"), w.portal_link(None))
    return _transactional_footer(w, _customer_frame(w, content, name))


def payment_failed(w: Writer, data: dict[str, Any], name: str | None) -> Content:
    _ = w._
    amount = w.money(data["amount"], data["currency"])
    content = Content(subject=_("Your payment of %(amount)s failed") % {"amount": amount})
    content.paragraphs.append(
        w.override(Kind.PAYMENT_FAILED)
        or _("We could not collect your payment of %(amount)s for %(plan)s.")
        % {"amount": amount, "plan": data["plan"]}
    )
    content.facts = [(_("Amount due"), amount)]
    if data.get("next_attempt"):
        next_day = w.day(data["next_attempt"])
        content.facts.append((_("Next attempt"), next_day))
        content.paragraphs.append(
            _(
                "We will try again on %(date)s. Please update your payment method before then "
                "to keep your subscription."
            )
            % {"date": next_day}
        )
    else:
        content.paragraphs.append(
            _("This was our last attempt. Please update your payment method to keep your subscription.")
        )
    content.action = Action(_("Update your payment method"), w.portal_link("payment_method_update"))
    return _transactional_footer(w, _customer_frame(w, content, name))


def trial_ending(w: Writer, data: dict[str, Any], name: str | None) -> Content:
    _ = w._
    values = {"plan": data["plan"], "date": w.day(data["trial_end"])}
    content = Content(subject=_("Your trial ends on %(date)s") % values)
    content.paragraphs.append(
        w.override(Kind.TRIAL_ENDING) or _("Your free trial of %(plan)s ends on %(date)s.") % values
    )
    amount = w.money(data["amount"], data["currency"])
    content.facts = [(_("Trial ends"), values["date"]), (_("First payment"), amount)]
    if data.get("has_payment_method"):
        content.paragraphs.append(
            _("Your subscription then continues and %(amount)s will be charged to your payment method.")
            % {"amount": amount}
        )
        content.action = Action(_("Manage your subscription"), w.portal_link(None))
    else:
        content.paragraphs.append(_("Add a payment method before then to keep your subscription."))
        content.action = Action(_("Add a payment method"), w.portal_link("payment_method_update"))
    return _transactional_footer(w, _customer_frame(w, content, name))


def cancellation(w: Writer, data: dict[str, Any], name: str | None, *, still_scheduled: bool) -> Content:
    _ = w._
    values = {"plan": data["plan"], "date": w.day(data["ends_at"])}
    content = Content(subject=_("Your %(plan)s subscription has been canceled") % values)
    override = w.override(Kind.CANCELLATION)
    if data.get("scheduled"):
        content.paragraphs.append(
            override or _("As you asked, your %(plan)s subscription has been canceled.") % values
        )
        content.paragraphs.append(_("You keep full access until %(date)s.") % values)
        content.facts = [(_("Access ends"), values["date"])]
        if still_scheduled:
            content.closing.append(_("Changed your mind? You can keep your subscription until then."))
            content.action = Action(_("Keep my subscription"), w.portal_link(None))
    else:
        content.paragraphs.append(
            override
            or _("As you asked, your %(plan)s subscription has been canceled. It ended on %(date)s.") % values
        )
        content.facts = [(_("Ended on"), values["date"])]
    content.closing.append(_("We are sorry to see you go. You are welcome back at any time."))
    return _transactional_footer(w, _customer_frame(w, content, name))


def offer_accepted(w: Writer, data: dict[str, Any], name: str | None) -> Content:
    _ = w._
    content = Content(subject=_("Your offer has been applied"))
    content.paragraphs.append(
        w.override(Kind.OFFER_ACCEPTED)
        or _("Thank you for staying with us. Your %(plan)s subscription continues; here is what changed.")
        % {"plan": data["plan"]}
    )
    kind = data.get("type")
    if kind == "coupon":
        if data.get("percent_off") is not None:
            off = _("%(percent)s off") % {"percent": w.percent(float(data["percent_off"]))}
        else:
            off = _("%(amount)s off") % {
                "amount": w.money(int(data.get("amount_off") or 0), data["currency"])
            }
        content.facts.append((_("Discount"), off))
        duration = data.get("duration")
        if duration == "forever":
            content.facts.append((_("Until"), _("For as long as you stay subscribed")))
        elif duration == "once":
            content.facts.append((_("Until"), _("Your next payment")))
        elif data.get("until"):
            content.facts.append((_("Until"), w.day(data["until"])))
    elif kind == "pause":
        content.facts.append((_("Payments paused until"), w.day(data["until"])))
    elif kind == "switch_price":
        price = f"{w.money(data['amount'], data['currency'])} {interval_words(w, data.get('interval'))}"
        content.facts.append((_("New plan"), f"{data['new_plan']} · {price}"))
        content.facts.append((_("From"), w.day(data["from"])))
    elif kind == "extend_trial":
        content.facts.append((_("Trial extended until"), w.day(data["until"])))
    content.action = Action(_("Manage your subscription"), w.portal_link(None))
    return _transactional_footer(w, _customer_frame(w, content, name))


def portal_login(w: Writer, data: dict[str, Any], name: str | None, *, url: str) -> Content:
    _ = w._
    content = Content(subject=_("Your sign-in link for %(brand)s") % {"brand": w.brand.name})
    content.paragraphs.append(
        w.override(Kind.PORTAL_LOGIN)
        or _("Use the button below to sign in to your billing account with %(brand)s.")
        % {"brand": w.brand.name}
    )
    content.action = Action(_("Sign in"), url)
    content.closing.append(
        _(
            "The link works once, for %(minutes)s minutes. If you did not ask for it, "
            "you can ignore this email: nobody can sign in without it."
        )
        % {"minutes": data.get("minutes", 30)}
    )
    return _transactional_footer(w, _customer_frame(w, content, name))


def marketing(
    w: Writer,
    *,
    subject: str,
    body: str,
    button: str | None,
    url: str | None,
    promotion_code: str | None,
    unsubscribe_url: str,
    name: str | None,
) -> Content:
    """A campaign: the operator's own subject and text, always with an unsubscribe link."""
    _ = w._
    content = Content(subject=subject)
    content.paragraphs = [part.strip() for part in body.replace("\r\n", "\n").split("\n\n") if part.strip()]
    if promotion_code:
        content.facts.append((_("Your code"), promotion_code))
    if url:
        content.action = Action(button or _("Learn more"), url)
    _customer_frame(w, content, name)
    content.footer.append(
        _("You receive this email because you are a customer of %(brand)s.") % {"brand": w.brand.name}
    )
    content.unsubscribe = Action(_("Unsubscribe from these emails"), unsubscribe_url)
    return content


# --- operator emails ------------------------------------------------------------------------------


def _operator_frame(w: Writer, content: Content) -> Content:
    content.footer.append(w._("Sent by Tenure to the operator of %(brand)s.") % {"brand": w.brand.name})
    content.labels = {"fallback": w._("If the button does not work, copy this address into your browser:")}
    return content


def endpoint_disabled(w: Writer, data: dict[str, Any]) -> Content:
    _ = w._
    values = {"url": data.get("url") or "", "id": data.get("webhook_endpoint") or ""}
    content = Content(subject=_("Webhook endpoint disabled: %(url)s") % values)
    content.paragraphs.append(
        _(
            "Every delivery to %(url)s has failed for days, so Tenure disabled this endpoint "
            "and abandoned its pending retries."
        )
        % values
    )
    content.facts = [(_("Endpoint"), values["id"]), (_("URL"), values["url"])]
    if data.get("failing_since"):
        content.facts.append((_("Failing since"), w.moment(int(data["failing_since"]))))
    content.closing.append(
        _("Once it answers again, enable it with disabled=false on POST /v1/webhook_endpoints/%(id)s.")
        % values
    )
    return _operator_frame(w, content)


def _digest_reason(w: Writer, row: dict[str, Any], reason_label: Callable[[str], str]) -> str:
    """The row's insights category (`tenure.insights.categories`), labelled in the writer's language."""
    code = category(reason=row.get("reason"), feedback=row.get("feedback"))
    if code in OTHER_LABELS:
        return w._(OTHER_LABELS[code])
    return reason_label(code)


def cancellation_digest(w: Writer, data: dict[str, Any], reason_label: Callable[[str], str]) -> Content:
    _ = w._
    rows: list[dict[str, Any]] = list(data.get("cancellations") or [])
    values = {"date": w.day(int(data["start"])), "count": len(rows)}
    content = Content(subject=_("Cancellations on %(date)s: %(count)s") % values)
    content.paragraphs.append(
        _("Subscriptions canceled on %(date)s, with the reasons customers gave.") % values
    )
    counts: dict[str, int] = {}
    for row in rows:
        label = _digest_reason(w, row, reason_label)
        counts[label] = counts.get(label, 0) + 1
    content.facts = [(label, str(count)) for label, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    content.table = Table(
        headers=[_("Customer"), _("Plan"), _("Reason"), _("Comment")],
        rows=[
            [
                str(row.get("customer_email") or row.get("customer") or ""),
                str(row.get("plan") or ""),
                _digest_reason(w, row, reason_label),
                str(row.get("comment") or ""),
            ]
            for row in rows
        ],
    )
    if data.get("truncated"):
        content.closing.append(_("Only the first %(count)s cancellations are listed.") % {"count": len(rows)})
    return _operator_frame(w, content)
