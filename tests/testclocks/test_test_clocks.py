from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tenure.runtime import Runtime
from tenure.testclocks import advance
from tenure.testclocks.models import TestClock

CLOCKS = "/v1/test_helpers/test_clocks"
DAY = 86400


def test_shape_matches_stripe(client: TestClient) -> None:
    created = client.post(CLOCKS, data={"frozen_time": "1700000000", "name": "Monthly renewals"}).json()
    assert set(created) == {
        "id",
        "object",
        "created",
        "deletes_after",
        "frozen_time",
        "livemode",
        "name",
        "status",
        "status_details",
    }
    assert created["object"] == "test_helpers.test_clock"
    assert created["status"] == "ready"
    assert created["deletes_after"] - created["created"] == 30 * DAY
    assert client.get(f"{CLOCKS}/{created['id']}").json() == created


class RecordingStep:
    """A real advance step (as billing registers) that records the moments it runs at."""

    def __init__(self, due: list[int]) -> None:
        self.due = sorted(due)
        self.ran: list[int] = []

    def next_due(self, session: Session, clock: TestClock, until: int) -> int | None:
        pending = [t for t in self.due if t not in self.ran and t <= until]
        return pending[0] if pending else None

    def run(self, session: Session, clock: TestClock, now: int, runtime: Runtime) -> None:
        assert clock.frozen_time == now
        self.ran.append(now)


@pytest.fixture
def step() -> Iterator[RecordingStep]:
    recording = RecordingStep([1700000000 + 10 * DAY, 1700000000 + 3 * DAY, 1700000000 + 40 * DAY])
    advance.register_step(recording)
    yield recording
    advance._STEPS.remove(recording)


def test_advance_runs_due_work_in_order(client: TestClient, step: RecordingStep) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    advanced = client.post(
        f"{CLOCKS}/{clock['id']}/advance", data={"frozen_time": str(1700000000 + 30 * DAY)}
    )
    assert advanced.status_code == 200
    assert advanced.json()["frozen_time"] == 1700000000 + 30 * DAY
    assert advanced.json()["status"] == "ready"
    assert step.ran == [1700000000 + 3 * DAY, 1700000000 + 10 * DAY]


def test_advance_must_move_forward(client: TestClient) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    response = client.post(f"{CLOCKS}/{clock['id']}/advance", data={"frozen_time": "1600000000"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "frozen_time"
    assert client.get(f"{CLOCKS}/{clock['id']}").json()["frozen_time"] == 1700000000


def test_delete(client: TestClient) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    deleted = client.delete(f"{CLOCKS}/{clock['id']}")
    assert deleted.json() == {"id": clock["id"], "object": "test_helpers.test_clock", "deleted": True}
    assert client.get(f"{CLOCKS}/{clock['id']}").status_code == 404
    assert client.delete(f"{CLOCKS}/{clock['id']}").status_code == 404
