"""The billing floor: the rows a billing run wrote, inserted again with plain bulk SQL.

`python -m bench.floors.bulk SPEC.json`, SPEC = {"source", "target", "since": {table: max pk}}.
`source` is the store after Tenure's run, `target` a copy of it taken before the run. Every row
the run added (pk above `since`) is streamed from the source in chunks and inserted into the
target with `executemany` (same driver, explicit pks so rows stay identical), then the renewed
subscriptions and their customers get the run's final values with one `executemany` UPDATE each.
Only the INSERTs, UPDATEs and the commit are timed, not reading the source.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.floors.sql import Database
from bench.rss import own_peak_rss_bytes

CHUNK = 2_000
SUBSCRIPTION_COLUMNS = (
    "current_period_start",
    "current_period_end",
    "latest_invoice_id",
    "next_action_at",
    "status",
)


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


def copy_rows(source: Database, target: Database, since: dict[str, int]) -> dict[str, Any]:
    read = _text_json(source)
    write = _text_json(target)
    rows_by_table: dict[str, int] = {}
    timed = 0.0
    if target.kind == "sqlite":
        write.execute("BEGIN IMMEDIATE")
    out = write.cursor()
    for table, last_pk in since.items():
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
            statement = target.sql(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})')
            began = time.perf_counter()
            out.executemany(statement, chunk)
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
            "SELECT c.next_invoice_sequence, c.pk FROM customers c "
            "WHERE c.id IN (SELECT customer_id FROM invoices WHERE pk > ?)"
        ),
        (invoice_pk,),
    )
    customer_rows = cursor.fetchall()
    began = time.perf_counter()
    out.executemany(
        target.sql(
            f"UPDATE subscriptions SET {', '.join(c + ' = ?' for c in SUBSCRIPTION_COLUMNS)} WHERE pk = ?"
        ),
        subscription_rows,
    )
    out.executemany(target.sql("UPDATE customers SET next_invoice_sequence = ? WHERE pk = ?"), customer_rows)
    if target.kind == "sqlite":
        write.execute("COMMIT")
    else:
        write.commit()
    timed += time.perf_counter() - began
    rows_by_table["subscriptions (updated)"] = len(subscription_rows)
    rows_by_table["customers (updated)"] = len(customer_rows)
    return {"seconds": timed, "rows": rows_by_table}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = copy_rows(Database(spec["source"]), Database(spec["target"]), spec["since"])
    result["peak_rss_bytes"] = own_peak_rss_bytes()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
