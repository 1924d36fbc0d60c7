"""Ready-made queries for the SQL console (they read only the documented views).

Each one answers a question the insights pages answer too, and tests/insights/test_sql_templates.py
holds it equal to them. An output name never repeats a column of the views it reads: in GROUP BY,
both SQLite and PostgreSQL resolve a bare name to the input column before the output alias.
"""

from __future__ import annotations

from tenure.insights.categories import INVOLUNTARY, UNSPECIFIED

# The insights' category of a cancellation (src/tenure/insights/categories.py): the customer's
# feedback, else the involuntary reason, else `unspecified`.
_INVOLUNTARY = ", ".join(f"'{code}'" for code in INVOLUNTARY)
_CATEGORY = (
    f"coalesce({{feedback}}, CASE WHEN {{reason}} IN ({_INVOLUNTARY}) THEN {{reason}} "
    f"ELSE '{UNSPECIFIED}' END)"
)
_RECORD_CATEGORY = _CATEGORY.format(feedback="feedback", reason="reason")
_SUBSCRIPTION_CATEGORY = _CATEGORY.format(feedback="s.cancellation_feedback", reason="s.cancellation_reason")

_MONTH = {
    "sqlite": "strftime('%Y-%m', canceled_at, 'unixepoch')",
    "postgresql": "to_char(to_timestamp(canceled_at) AT TIME ZONE 'UTC', 'YYYY-MM')",
}

TEMPLATES: dict[str, tuple[str, str]] = {
    "reasons_by_month": (
        "Reasons by month",
        f"""SELECT {{month}} AS month,
       {_RECORD_CATEGORY} AS customer_reason, count(*) AS cancellations
FROM cancellations
GROUP BY 1, 2
ORDER BY month DESC, cancellations DESC, customer_reason""",
    ),
    "other_comments": (
        "Comments for “Other”",
        """SELECT canceled_at, subscription, comment
FROM cancellations
WHERE feedback = 'other' AND comment IS NOT NULL AND comment <> ''
ORDER BY canceled_at DESC, subscription""",
    ),
    "mrr_lost_by_reason": (
        "MRR lost by reason",
        f"""SELECT {_RECORD_CATEGORY} AS customer_reason, currency,
       count(*) AS cancellations, sum(mrr) AS mrr_lost_minor
FROM cancellations
GROUP BY 1, 2
ORDER BY mrr_lost_minor DESC, customer_reason, currency""",
    ),
    "save_rate_by_offer": (
        "Save rate by offer",
        """SELECT offer_type,
       count(*) AS offers_shown,
       sum(CASE WHEN offer_response = 'accepted' THEN 1 ELSE 0 END) AS accepted
FROM cancellation_flows
WHERE offer_type IS NOT NULL AND offer_shown_at IS NOT NULL
GROUP BY offer_type
ORDER BY offer_type""",
    ),
    # The win-back page's segment: each customer once, with their latest ended subscription, who has
    # no current one; customers who unsubscribed from marketing are left out here.
    "win_back_candidates": (
        "Win-back candidates",
        f"""SELECT c.email, c.name, {_SUBSCRIPTION_CATEGORY} AS customer_reason,
       s.canceled_at, x.mrr, s.currency
FROM subscriptions s
JOIN customers c ON c.id = s.customer
LEFT JOIN cancellations x ON x.subscription = s.id
WHERE s.status = 'canceled' AND c.email IS NOT NULL AND NOT c.deleted AND c.test_clock IS NULL
  AND NOT c.marketing_opt_out
  AND NOT EXISTS (SELECT 1 FROM subscriptions a
                  WHERE a.customer = s.customer AND a.status IN ('active', 'trialing', 'past_due'))
  AND NOT EXISTS (SELECT 1 FROM subscriptions later
                  WHERE later.customer = s.customer AND later.status = 'canceled'
                    AND (later.canceled_at > s.canceled_at
                         OR (later.canceled_at = s.canceled_at AND later.created > s.created)))
ORDER BY s.canceled_at DESC, c.email""",
    ),
}


def templates_for(dialect: str) -> dict[str, tuple[str, str]]:
    """The templates written in `dialect`'s date functions."""
    month = _MONTH.get(dialect, _MONTH["sqlite"])
    return {key: (title, sql.replace("{month}", month)) for key, (title, sql) in TEMPLATES.items()}
