"""Ready-made queries for the SQL console (they read only the documented views)."""

from __future__ import annotations

_MONTH = {
    "sqlite": "strftime('%Y-%m', canceled_at, 'unixepoch')",
    "postgresql": "to_char(to_timestamp(canceled_at) AT TIME ZONE 'UTC', 'YYYY-MM')",
}

TEMPLATES: dict[str, tuple[str, str]] = {
    "reasons_by_month": (
        "Reasons by month",
        """SELECT {month} AS month,
       coalesce(feedback, 'unspecified') AS reason, count(*) AS cancellations
FROM cancellations
GROUP BY month, reason
ORDER BY month DESC, cancellations DESC""",
    ),
    "other_comments": (
        "Comments for “Other”",
        """SELECT canceled_at, subscription, comment
FROM cancellations
WHERE feedback = 'other' AND comment IS NOT NULL
ORDER BY canceled_at DESC""",
    ),
    "mrr_lost_by_reason": (
        "MRR lost by reason",
        """SELECT coalesce(feedback, 'unspecified') AS reason, currency,
       count(*) AS cancellations, sum(mrr) AS mrr_lost_minor
FROM cancellations
GROUP BY reason, currency
ORDER BY mrr_lost_minor DESC""",
    ),
    "save_rate_by_offer": (
        "Save rate by offer",
        """SELECT offer_type,
       count(*) AS offers_shown,
       sum(CASE WHEN offer_response = 'accepted' THEN 1 ELSE 0 END) AS accepted
FROM cancellation_flows
WHERE offer_type IS NOT NULL
GROUP BY offer_type""",
    ),
    "win_back_candidates": (
        "Win-back candidates",
        """SELECT c.email, c.name, x.feedback, x.canceled_at, x.mrr, x.currency
FROM cancellations x JOIN customers c ON c.id = x.customer
WHERE x.reason = 'cancellation_requested' AND NOT c.marketing_opt_out
  AND NOT EXISTS (SELECT 1 FROM subscriptions s
                  WHERE s.customer = x.customer AND s.status IN ('active', 'trialing'))
ORDER BY x.mrr DESC""",
    ),
}


def templates_for(dialect: str) -> dict[str, tuple[str, str]]:
    """The templates written in `dialect`'s date functions."""
    month = _MONTH.get(dialect, _MONTH["sqlite"])
    return {key: (title, sql.replace("{month}", month)) for key, (title, sql) in TEMPLATES.items()}
