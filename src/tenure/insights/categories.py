"""What a cancellation is counted under in the insights, the win-back segment, the SQL console's
templates and the daily digest (docs/insights.md, "Reasons"):

- the customer's own feedback (one of the 8 standard codes), when they gave one;
- else `payment_failed` or `payment_disputed` when Tenure ended the subscription itself
  (`cancellation_details.reason`): involuntary churn, never "no reason given". A failed card and a
  chargeback stay apart: the first is usually worth a win-back email, the second rarely is;
- else `unspecified`: the customer said nothing.

A customer's feedback wins over an involuntary reason, as on the dashboard's lists: the customer's
words say more than how the subscription ended. Tenure's own dunning clears the feedback when it
cancels, so both only meet on subscriptions imported or canceled elsewhere; the `involuntary`
total still counts them by their reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from tenure.retention.reasons import LABELS, STANDARD_REASONS
from tenure.subscriptions.models import CancellationReason
from tenure.web.i18n import translations

UNSPECIFIED = "unspecified"
PAYMENT_FAILED = CancellationReason.PAYMENT_FAILED.value
PAYMENT_DISPUTED = CancellationReason.PAYMENT_DISPUTED.value
INVOLUNTARY: tuple[str, ...] = (PAYMENT_FAILED, PAYMENT_DISPUTED)
# Every category, in the order pages list them: the customer's reasons, then the others.
CATEGORIES: tuple[str, ...] = (*STANDARD_REASONS, *INVOLUNTARY, UNSPECIFIED)


def _(message: str) -> str:
    """Marks a label for extraction; translated from the `emails` catalogs (the digest's labels)."""
    return message


# The English labels are the dashboard's (src/tenure/dashboard/cancellations.py).
OTHER_LABELS: dict[str, str] = {
    PAYMENT_FAILED: _("Payment failed"),
    PAYMENT_DISPUTED: _("Payment disputed"),
    UNSPECIFIED: _("No reason given"),
}


def category(*, reason: str | None, feedback: str | None) -> str:
    """The category of a cancellation from its `cancellation_details` reason and feedback."""
    if feedback:
        return feedback
    if reason in INVOLUNTARY:
        return str(reason)
    return UNSPECIFIED


def category_of(details: dict[str, Any] | None) -> str:
    """The category of a subscription's `cancellation_details`."""
    details = details or {}
    return category(reason=details.get("reason"), feedback=details.get("feedback"))


def matching(
    codes: list[str], *, reason: ColumnElement[Any], feedback: ColumnElement[Any]
) -> ColumnElement[bool]:
    """SQL: the cancellation's category is one of `codes` (`feedback` NULL when none was given)."""
    given = [code for code in codes if code not in (*INVOLUNTARY, UNSPECIFIED)]
    either: list[ColumnElement[bool]] = [feedback.in_(given)] if given else []
    involuntary = [code for code in codes if code in INVOLUNTARY]
    if involuntary:
        either.append(and_(feedback.is_(None), reason.in_(involuntary)))
    if UNSPECIFIED in codes:
        either.append(and_(feedback.is_(None), or_(reason.is_(None), reason.not_in(INVOLUNTARY))))
    return or_(*either)


def label(code: str | None, locale: str = "en") -> str:
    """A category's label in `locale` (a code Tenure does not know is shown as it is)."""
    code = code or UNSPECIFIED
    if code in LABELS:
        return LABELS[code].get(locale) or LABELS[code]["en"]
    if code in OTHER_LABELS:
        return str(translations(locale).gettext(OTHER_LABELS[code]))
    return code
