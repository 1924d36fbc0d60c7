"""The billing floor: the rows a billing run wrote, inserted again with plain bulk SQL.

`python -m bench.floors.bulk SPEC.json`, SPEC = {"source", "target", "since": {table: max pk}}.
`source` is the store after Tenure's run, `target` a copy of it taken before the run. Every row
the run added (pk above `since`) is streamed from the source in chunks and inserted into the
target with `executemany` (same driver, explicit pks so rows stay identical), then the renewed
subscriptions and their customers get the run's final values with one `executemany` UPDATE each.

What the event log's consumers write after the run for its events is written here too, in the
same transaction, as they would: a webhook delivery per enabled endpoint that wants an event (its
count in the event's `pending_webhooks`) and the email of a failed renewal charge. (Renewals
change no cancellation, so the insights consumer writes nothing for them.) Those rows are never
copied from the source, should its consumers have run. Only the floor's own statements (the
reads its derived rows need, the INSERTs, UPDATEs and the commit) are timed, not reading the source.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench.floors.sql import INSERT_DELIVERIES, Database, Runner, deliveries, enabled_endpoints, new_id
from bench.rss import own_peak_rss_bytes

CHUNK = 2_000
SUBSCRIPTION_COLUMNS = (
    "current_period_start",
    "current_period_end",
    "latest_invoice_id",
    "next_action_at",
    "status",
)
CUSTOMER_COLUMNS = ("balance", "next_invoice_sequence")
# Written by the consumers of the event log: the floor writes these itself (below), never copies them.
DERIVED = frozenset({"webhook_deliveries", "email_messages", "event_consumers"})
_IN_CHUNK = 500


def _text_json(database: Database) -> Any:
    """A connection that reads json/jsonb as the text it was stored as (re-inserted untouched)."""
    connection = database.connection()
    if database.kind == "postgresql":
        from psycopg.types.string import TextLoader

        connection.adapters.register_loader("jsonb", TextLoader)
        connection.adapters.register_loader("json", TextLoader)
    return connection


def _columns(cursor: Any) -> list[str]:
    return [description[0] for description in cursor.description]


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription_id = details.get("subscription")
    return str(subscription_id) if subscription_id else None


class Consumers:
    """What Tenure's consumers write for the run's events: deliveries (`webhooks`) and the emails
    of failed charges (`emails`, `invoice.payment_failed`)."""

    def __init__(self, run: Runner) -> None:
        self.run = run
        self.endpoints = enabled_endpoints(run)
        self.failed: list[tuple[int, dict[str, Any]]] = []  # (event created, invoice)
        self._deliveries: list[tuple[Any, ...]] = []

    def stamp(self, columns: list[str], chunk: list[Any]) -> list[Any]:
        """The chunk of events with their `pending_webhooks`; queues their deliveries."""
        at = {name: columns.index(name) for name in ("id", "type", "created", "data", "pending_webhooks")}
        if not self.endpoints:  # nothing to stamp (the billing scenario): only look for failed charges
            self.failed.extend(
                (row[at["created"]], json.loads(row[at["data"]])["object"])
                for row in chunk
                if row[at["type"]] == "invoice.payment_failed"
            )
            return chunk
        stamped: list[Any] = []
        self._deliveries = []
        for row in chunk:
            event_id, event_type, created = row[at["id"]], row[at["type"]], row[at["created"]]
            queued = deliveries(self.endpoints, event_id=event_id, event_type=event_type, created=created)
            stamped.append([*row[: at["pending_webhooks"]], len(queued), *row[at["pending_webhooks"] + 1 :]])
            self._deliveries.extend(queued)
            if event_type == "invoice.payment_failed":
                self.failed.append((created, json.loads(row[at["data"]])["object"]))
        return stamped

    def queue_deliveries(self) -> None:
        """After their events' chunk (they reference it)."""
        if self._deliveries:
            self.run.many(INSERT_DELIVERIES, self._deliveries)
        self._deliveries = []

    def queue_payment_failed_emails(self) -> None:
        """One email per failed renewal charge (tenure.notifications.triggers._payment_failed)."""
        failed = [(at, inv) for at, inv in self.failed if inv.get("billing_reason") != "subscription_create"]
        subscription_of = {inv["id"]: _subscription_of(inv) for _at, inv in failed}
        plans = self._plan_names(sorted({s for s in subscription_of.values() if s}))
        rows = []
        for at, invoice in failed:
            subscription_id = subscription_of[invoice["id"]]
            data = {
                "invoice": invoice["id"],
                "subscription": subscription_id,
                "plan": plans.get(subscription_id or "") or invoice.get("number") or invoice["id"],
                "amount": invoice.get("amount_remaining") or invoice.get("amount_due") or 0,
                "currency": invoice["currency"],
                "next_attempt": invoice.get("next_payment_attempt"),
                "attempt": invoice.get("attempt_count"),
            }
            cause_key = f"payment_failed:{invoice['id']}:{invoice.get('attempt_count')}"
            customer = invoice["customer"]
            email = (cause_key, "payment_failed", "transactional", customer, None, json.dumps(data), "queued")
            rows.append((*email, 0, None, None, new_id("emsg"), at, False))
        if rows:
            self.run.many(
                "INSERT INTO email_messages (cause_key, kind, category, customer_id, campaign_id, data, "
                "status, attempts, next_attempt_at, last_error, id, created, livemode) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cause_key) DO NOTHING",
                rows,
            )

    def _plan_names(self, subscription_ids: list[str]) -> dict[str, str]:
        """What the emails call each subscription's plan (tenure.notifications.triggers.plan_name)."""
        items: dict[str, list[str]] = {}
        for start in range(0, len(subscription_ids), _IN_CHUNK):
            chunk = subscription_ids[start : start + _IN_CHUNK]
            for subscription_id, name in self.run.all(
                "SELECT subscription_items.subscription_id, COALESCE(products.name, prices.nickname) "
                "FROM subscription_items JOIN prices ON prices.id = subscription_items.price_id "
                "LEFT JOIN products ON products.id = prices.product_id "
                f"WHERE subscription_items.subscription_id IN ({', '.join('?' * len(chunk))}) "
                "ORDER BY subscription_items.pk",
                chunk,
            ):
                items.setdefault(subscription_id, []).append(name or subscription_id)
        return {
            subscription_id: names[0] + (f" (+{len(names) - 1})" if len(names) > 1 else "")
            for subscription_id, names in items.items()
        }


def copy_rows(source: Database, target: Database, since: dict[str, int]) -> dict[str, Any]:
    read = _text_json(source)
    write = _text_json(target)
    rows_by_table: dict[str, int] = {}
    target.begin(write)
    run = Runner(target, write.cursor())
    began = time.perf_counter()
    consumers = Consumers(run)
    timed = time.perf_counter() - began
    for table, last_pk in since.items():
        if table in DERIVED:
            continue
        cursor = read.cursor(name=f"copy_{table}") if source.kind == "postgresql" else read.cursor()
        cursor.execute(source.sql(f'SELECT * FROM "{table}" WHERE pk > ? ORDER BY pk'), (last_pk,))
        columns: list[str] | None = None
        while True:
            chunk = cursor.fetchmany(CHUNK)
            if not chunk:
                break
            columns = columns or _columns(cursor)
            quoted = ", ".join('"' + column + '"' for column in columns)
            marks = ", ".join("?" for _ in columns)
            began = time.perf_counter()
            if table == "events":
                chunk = consumers.stamp(columns, chunk)
            run.many(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', chunk)
            if table == "events":
                consumers.queue_deliveries()
            timed += time.perf_counter() - began
            rows_by_table[table] = rows_by_table.get(table, 0) + len(chunk)
        cursor.close()
    # The run's updates: renewed subscriptions' new period and invoice, their customers' sequence.
    cursor = read.cursor()
    invoice_pk = since.get("invoices", 0)
    cursor.execute(
        source.sql(
            f"SELECT {', '.join('s.' + c for c in SUBSCRIPTION_COLUMNS)}, s.pk FROM subscriptions s "
            "WHERE s.id IN (SELECT subscription_id FROM invoices WHERE pk > ?)"
        ),
        (invoice_pk,),
    )
    subscription_rows = cursor.fetchall()
    cursor.execute(
        source.sql(
            f"SELECT {', '.join('c.' + c for c in CUSTOMER_COLUMNS)}, c.pk FROM customers c "
            "WHERE c.id IN (SELECT customer_id FROM invoices WHERE pk > ?)"
        ),
        (invoice_pk,),
    )
    customer_rows = cursor.fetchall()
    began = time.perf_counter()
    run.many(
        f"UPDATE subscriptions SET {', '.join(c + ' = ?' for c in SUBSCRIPTION_COLUMNS)} WHERE pk = ?",
        subscription_rows,
    )
    run.many(
        f"UPDATE customers SET {', '.join(c + ' = ?' for c in CUSTOMER_COLUMNS)} WHERE pk = ?", customer_rows
    )
    consumers.queue_payment_failed_emails()
    target.commit(write)
    timed += time.perf_counter() - began
    rows_by_table["subscriptions (updated)"] = len(subscription_rows)
    rows_by_table["customers (updated)"] = len(customer_rows)
    return {"seconds": timed, "rows": rows_by_table}


def main(argv: list[str]) -> int:
    from pathlib import Path

    spec = json.loads(Path(argv[0]).read_text())
    result = copy_rows(Database(spec["source"]), Database(spec["target"]), spec["since"])
    result["peak_rss_bytes"] = own_peak_rss_bytes()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
