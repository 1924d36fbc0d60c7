from __future__ import annotations

from typing import Any

from pydantic import Field

from tenure.api.lists import ListParams
from tenure.api.params import Params, Timestamp
from tenure.testclocks.models import TestClock, TestClockStatus


class TestClockCreate(Params):
    __test__ = False
    frozen_time: Timestamp
    name: str | None = Field(default=None, max_length=300)


class TestClockAdvance(Params):
    __test__ = False
    frozen_time: Timestamp


class TestClockList(ListParams):
    __test__ = False


def serialize_test_clock(clock: TestClock) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if clock.status == TestClockStatus.ADVANCING:
        details = {"advancing": {"target_frozen_time": clock.frozen_time}}
    return {
        "id": clock.id,
        "object": "test_helpers.test_clock",
        "created": clock.created,
        "deletes_after": clock.deletes_after,
        "frozen_time": clock.frozen_time,
        "livemode": clock.livemode,
        "name": clock.name,
        "status": clock.status,
        "status_details": details,
    }
