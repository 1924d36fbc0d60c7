"""The SQL console's views on SQLite: what an analyst may read, and nothing secret.

On PostgreSQL the same views live in the `insights` schema (created by migration 0012), readable
by the `tenure_insights` role only. Keep both definitions in step (docs/insights.md lists them).
"""

from __future__ import annotations

SQLITE_VIEWS: dict[str, str] = {
    "subscriptions": """
        SELECT id, customer_id AS customer, status, currency, created, start_date, current_period_start,
               current_period_end, cancel_at_period_end, cancel_at, canceled_at, ended_at,
               json_extract(cancellation_details, '$.feedback') AS cancellation_feedback,
               json_extract(cancellation_details, '$.comment') AS cancellation_comment,
               json_extract(cancellation_details, '$.reason') AS cancellation_reason,
               trial_start, trial_end, latest_invoice_id AS latest_invoice, metadata
        FROM main.subscriptions""",
    "subscription_items": """
        SELECT id, subscription_id AS subscription, price_id AS price, quantity, created
        FROM main.subscription_items""",
    "customers": """
        SELECT id, email, name, created, balance, currency, preferred_locales, deleted,
               test_clock_id AS test_clock, marketing_opt_out
        FROM main.customers""",
    "prices": """
        SELECT id, product_id AS product, active, currency, unit_amount, type, recurring_interval AS interval,
               recurring_interval_count AS interval_count, lookup_key, nickname, created
        FROM main.prices""",
    "products": "SELECT id, name, active, created FROM main.products",
    "coupons": """
        SELECT id, name, percent_off, amount_off, currency, duration, duration_in_months, times_redeemed,
               max_redemptions, redeem_by, created
        FROM main.coupons""",
    "invoices": """
        SELECT id, customer_id AS customer, subscription_id AS subscription, status, number, currency,
               subtotal, total, amount_due, amount_paid, billing_reason, created, period_start, period_end,
               attempt_count
        FROM main.invoices""",
    "cancellations": """
        SELECT subscription_id AS subscription, customer_id AS customer, canceled_at, ended_at, started_at,
               tenure_days, reason, feedback, comment, price_id AS price, product_id AS product, currency,
               mrr, locale, source, flow_id AS flow
        FROM main.cancellations""",
    "cancellation_flows": """
        SELECT id, subscription_id AS subscription, customer_id AS customer, source, locale, started_at,
               reason_code, feedback, comment, json_extract(offer, '$.type') AS offer_type, offer_shown_at,
               offer_response, offer_responded_at, outcome, completed_at, mode, mrr, currency
        FROM main.cancellation_flows""",
    "events": "SELECT id, type, created, object_id, data FROM main.events",
}

VIEW_NAMES: frozenset[str] = frozenset(SQLITE_VIEWS)
# The tables behind the views. `count(*)` over a view makes SQLite read the table itself without a
# column; allowing that for these tables only reveals nothing the views do not already show.
UNDERLYING_TABLES: frozenset[str] = frozenset(
    {
        "subscriptions",
        "subscription_items",
        "customers",
        "prices",
        "products",
        "coupons",
        "invoices",
        "cancellations",
        "cancellation_flows",
        "events",
    }
)
