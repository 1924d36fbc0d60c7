"""The daily rollup follows every change of a cancellation: new, reason changed, undone, immediate."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.insights import daily
from tenure.insights.models import CancellationDay
from tenure.runtime import Runtime
from tests.subscriptions.conftest import Catalog, ok

Row = tuple[int, str, str, str, str, str, int, int]


def _rows(runtime: Runtime, *, recount: bool) -> set[Row]:
    table = CancellationDay
    with runtime.sessionmaker() as session:
        if recount:
            daily.rebuild(session)
        rows = session.execute(
            select(
                table.day,
                table.reason,
                table.feedback,
                table.price_id,
                table.currency,
                table.tenure_bucket,
                table.count,
                table.mrr,
            )
        ).all()
        session.rollback()  # the recount was only to compare with
    return {tuple(row) for row in rows}  # type: ignore[misc]


def _assert_in_step(runtime: Runtime) -> set[Row]:
    kept = _rows(runtime, recount=False)
    assert kept == _rows(runtime, recount=True)
    return kept


def test_rollup_equals_a_recount_after_every_change(
    client: TestClient, catalog: Catalog, runtime: Runtime
) -> None:
    def subscribe() -> str:
        customer = catalog.customer()
        return ok(
            client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
        )["id"]

    first, second, third = subscribe(), subscribe(), subscribe()
    assert _assert_in_step(runtime) == set()

    ok(
        client.post(
            f"/v1/subscriptions/{first}",
            data={"cancel_at_period_end": "true", "cancellation_details[feedback]": "too_expensive"},
        )
    )
    (row,) = _assert_in_step(runtime)
    assert (row[1], row[2], row[3], row[6], row[7]) == (
        "cancellation_requested",
        "too_expensive",
        catalog.monthly,
        1,
        2000,
    )

    ok(client.post(f"/v1/subscriptions/{first}", data={"cancellation_details[feedback]": "unused"}))
    (row,) = _assert_in_step(runtime)
    assert (row[2], row[6]) == ("unused", 1)

    ok(client.post(f"/v1/subscriptions/{first}", data={"cancel_at_period_end": "false"}))
    assert _assert_in_step(runtime) == set()

    ok(client.delete(f"/v1/subscriptions/{second}", params={"cancellation_details[feedback]": "other"}))
    ok(client.post(f"/v1/subscriptions/{third}", data={"cancel_at_period_end": "true"}))
    rows = _assert_in_step(runtime)
    assert sorted((row[2], row[6]) for row in rows) == [("", 1), ("other", 1)]
