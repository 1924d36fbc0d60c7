"""Schemathesis over every operation of `/openapi.json`, authenticated, on each database.

Data is generated from the document alone (valid and invalid), so this also checks that the
document describes what the API accepts: no 5xx, every 4xx a Stripe error object, every response
conforming to the documented status codes, content types and schemas. Path parameters name real
objects (seeded through the API), and so do about half of the ids in bodies and queries, so that
requests reach the services, not only the 404 of an unknown id.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import IN_CI
from tests.fuzz.support import assert_stripe_error, seed, stripe_encode

# Bounded so that the whole run stays well under 3 minutes per database on a 2-core machine;
# `TENURE_FUZZ_EXAMPLES=200` digs deeper by hand.
MAX_EXAMPLES = int(os.environ.get("TENURE_FUZZ_EXAMPLES", "25"))
# CI replays the same examples on every run, so that a landing is decided by the change, not by the
# draw; runs by hand draw new examples each time (and find new bugs: add them as explicit cases).
DERANDOMIZE = IN_CI and not os.environ.get("TENURE_FUZZ_RANDOM")
# Body and query fields naming objects, mapped to the seeded object standing in for them. Never
# `test_clock`: advancing a clock that has subscriptions to the year 9999 would bill for centuries.
ID_FIELDS = {
    "customer": "customer_id",
    "price": "price_id",
    "product": "product_id",
    "coupon": "coupon_id",
    "promotion_code": "promotion_code_id",
    "subscription": "subscription_id",
    "payment_method": "payment_method_id",
    "default_payment_method": "payment_method_id",
    "invoice": "invoice_id",
    "webhook_endpoint": "endpoint_id",
    "event": "event_id",
    "campaign": "campaign_id",
}


@schemathesis.serializer("application/x-www-form-urlencoded")
def stripe_form(_context: schemathesis.SerializationContext, value: Any) -> bytes | None:
    """Form bodies in Stripe's bracket notation (schemathesis' default only handles flat forms)."""
    if isinstance(value, Mapping):
        return urlencode(stripe_encode(value)).encode()
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


@pytest.fixture
def seeded(client: TestClient) -> dict[str, str]:
    return seed(client)


def _use_seeded(value: Any, seeded: dict[str, str]) -> Any:
    """Replace about half of the generated ids with real ones (decided by the value, so examples replay)."""
    if isinstance(value, dict):
        return {
            key: (
                seeded[ID_FIELDS[key]]
                if key in ID_FIELDS
                and ID_FIELDS[key] in seeded
                and isinstance(item, str)
                and zlib.crc32(item.encode("utf-8", "surrogatepass")) % 2 == 0
                else _use_seeded(item, seeded)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_use_seeded(item, seeded) for item in value]
    return value


def _check(case: schemathesis.Case, *, secret_key: str, seeded: dict[str, str]) -> int:
    # A DELETE without parameters would only remove the seeded object the operations after it need.
    if case.method != "DELETE" or case.query:
        for name in list(case.path_parameters or {}):
            if name in seeded:
                case.path_parameters[name] = seeded[name]
    if isinstance(case.body, dict):
        case.body = _use_seeded(case.body, seeded)
    if isinstance(case.query, dict):
        case.query = dict(stripe_encode(_use_seeded(case.query, seeded)))
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {secret_key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    if response.status_code >= 400:
        assert_stripe_error(response.status_code, response.text)
    return response.status_code


def _describe(exc: BaseException) -> str:
    """Schemathesis failures keep their story in titles, messages and notes, not in `str()`."""
    lines = [f"{type(exc).__name__}: {exc}"]
    lines += [str(getattr(exc, name)) for name in ("title", "message") if getattr(exc, name, None)]
    lines += getattr(exc, "__notes__", [])
    lines += [_describe(sub) for sub in getattr(exc, "exceptions", [])]
    return "\n".join(lines)


# The operations run one after another in one test per database: schemathesis' lazy pytest
# integration (`from_fixture`, needed for a per-database app) does not run on pytest 9.2, and the
# document has to come from the app under test.
# The limit grows with a deeper run by hand (TENURE_FUZZ_EXAMPLES).
@pytest.mark.timeout(120 + 20 * MAX_EXAMPLES)
def test_every_operation(app: FastAPI, secret_key: str, seeded: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The key is sent by the test: generated credentials would only ever get 401s.
    schema.config.generation.update(with_security_parameters=False, database="none")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 70
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for operation in operations:
        statuses[operation.label] = Counter()
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=DERANDOMIZE,
            deadline=None,
            database=None,
            # No shrinking: the report carries the failing request, and the run stays bounded.
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            statuses[case.operation.label][_check(case, secret_key=secret_key, seeded=seeded)] += 1

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}:\n{_describe(exc)}")
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
    # Every 4xx passes the checks above, so make sure the run was not all refusals: the key works,
    # and most operations were accepted at least once (DELETEs of unknown ids and creations whose
    # generated references rarely name real objects account for the rest).
    assert not [label for label, seen in statuses.items() if 401 in seen], statuses
    accepted = [label for label, seen in statuses.items() if seen[200]]
    assert len(accepted) >= 45, {label: dict(seen) for label, seen in statuses.items()}
