"""The insights floor: DuckDB computing the cancellation aggregates over the same rows.

The rows (every subscription with its price and cancellation details) are read from Tenure's
store once and loaded into an in-memory DuckDB table; only the aggregate queries are timed.
The aggregates follow the product spec's cancellation insights: reasons ranked by count and by
MRR lost, the customers' own words, the trend by month, by plan, by tenure, and voluntary
versus failed-payment churn. Align them with `/v1/insights/cancellations` once it exists.

`python -m bench.floors.insights SPEC.json`, SPEC = {"url", "samples", "csv"}; prints
{"rows", "p50_ms", "p99_ms", "load_s", "peak_rss_bytes"}.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.floors.sql import Database
from bench.rss import own_peak_rss_bytes

EXPORT = (
    "SELECT s.id, s.status, s.customer_id, s.start_date, s.canceled_at, s.cancellation_details, "
    "i.price_id, p.unit_amount, i.quantity, p.recurring_interval, p.recurring_interval_count "
    "FROM subscriptions s JOIN subscription_items i ON i.subscription_id = s.id "
    "JOIN prices p ON p.id = i.price_id"
)
COLUMNS = (
    "id",
    "status",
    "customer_id",
    "start_date",
    "canceled_at",
    "feedback",
    "comment",
    "reason",
    "price_id",
    "mrr",
)

# Monthly amount of one item, in minor units (MRR): the same normalisation as tenure.periods.
_MONTHLY = {"day": 30.0, "week": 52.0 / 12.0, "month": 1.0, "year": 1.0 / 12.0}

QUERIES = {
    "by_reason": """
        SELECT feedback, count(*) AS canceled, sum(mrr) AS mrr_lost
        FROM subs WHERE status = 'canceled' GROUP BY feedback ORDER BY canceled DESC""",
    "by_mrr": """
        SELECT feedback, sum(mrr) AS mrr_lost FROM subs WHERE status = 'canceled'
        GROUP BY feedback ORDER BY mrr_lost DESC""",
    "by_month": """
        SELECT strftime(make_timestamp(canceled_at * 1000000), '%Y-%m') AS month, feedback,
            count(*) AS canceled
        FROM subs WHERE status = 'canceled' GROUP BY ALL ORDER BY month""",
    "by_plan": """
        SELECT price_id, count(*) FILTER (WHERE status = 'canceled') AS canceled, count(*) AS total
        FROM subs GROUP BY price_id ORDER BY canceled DESC""",
    "by_tenure": """
        SELECT least(12, (canceled_at - start_date) // (30 * 86400)) AS months, count(*) AS canceled
        FROM subs WHERE status = 'canceled' GROUP BY months ORDER BY months""",
    "voluntary": """
        SELECT reason, count(*) AS canceled FROM subs WHERE status = 'canceled' GROUP BY reason""",
    "their_words": """
        SELECT comment, feedback, canceled_at FROM subs
        WHERE status = 'canceled' AND comment IS NOT NULL ORDER BY canceled_at DESC LIMIT 50""",
}


def export(url: str, csv_path: Path) -> int:
    """Write the store's subscriptions (one row per item) to CSV; returns the row count."""
    database = Database(url)
    connection = database.connection()
    cursor = (
        connection.cursor(name="insights_export") if database.kind == "postgresql" else connection.cursor()
    )
    cursor.execute(EXPORT)
    rows = 0
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        while chunk := cursor.fetchmany(10_000):
            for (
                sid,
                status,
                customer,
                start,
                canceled_at,
                details,
                price,
                amount,
                quantity,
                unit,
                count,
            ) in chunk:
                details = json.loads(details) if isinstance(details, str) else (details or {})
                mrr = round(
                    (amount or 0) * (quantity or 1) * _MONTHLY.get(unit or "month", 1.0) / (count or 1)
                )
                writer.writerow(
                    (
                        sid,
                        status,
                        customer,
                        start,
                        canceled_at,
                        details.get("feedback"),
                        details.get("comment"),
                        details.get("reason"),
                        price,
                        mrr,
                    )
                )
            rows += len(chunk)
    return rows


def measure(csv_path: Path, *, samples: int) -> dict[str, Any]:
    import duckdb

    connection = duckdb.connect()
    began = time.perf_counter()
    connection.execute(f"CREATE TABLE subs AS SELECT * FROM read_csv('{csv_path}', header = true)")
    load_s = time.perf_counter() - began
    timings = []
    for _ in range(samples):
        began = time.perf_counter()
        for query in QUERIES.values():
            connection.execute(query).fetchall()
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[min(len(timings) - 1, round(0.99 * len(timings)) - 1)], 2),
        "load_s": round(load_s, 3),
    }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    csv_path = Path(spec["csv"])
    rows = export(spec["url"], csv_path)
    result = measure(csv_path, samples=int(spec["samples"]))
    result["rows"] = rows
    result["peak_rss_bytes"] = own_peak_rss_bytes()
    csv_path.unlink(missing_ok=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
