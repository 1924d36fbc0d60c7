"""`Idempotency-Key` as Stripe scopes and compares it: per account, on the parsed parameters."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import stripe
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError

from tenure.api.idempotency import IdempotencyRecord, legacy_fingerprint
from tenure.customers.models import Customer
from tenure.db.migrate import alembic_config
from tenure.keys.service import create_key as create_api_key
from tenure.keys.service import find_active_key, revoke_key, roll_key
from tenure.runtime import Runtime

CUSTOMERS = "/v1/customers"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def _customers(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


def _new_secret(runtime: Runtime, old_secret: str, how: str) -> str:
    """Replace the key behind `old_secret` as an operator would: roll it, or revoke it and make another."""
    with runtime.sessionmaker() as session:
        old = find_active_key(session, old_secret, now=runtime.clock.now())
        assert old is not None
        if how == "roll":  # `tenure keys roll` with no grace period: the old key stops at once
            _key, secret = roll_key(session, old, now=runtime.clock.now())
        else:
            revoke_key(old, now=runtime.clock.now())
            _key, secret = create_api_key(session, now=runtime.clock.now(), name="replacement")
        session.commit()
    return secret


@pytest.mark.parametrize("how", ["roll", "revoke"])
def test_a_retry_after_replacing_the_key_replays(
    live_server: str, runtime: Runtime, secret_key: str, how: str
) -> None:
    """A deploy that rolls the secret key while a create is being retried must not create it twice."""
    options: stripe.RequestOptions = {"idempotency_key": f"key-{how}"}
    before = stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)
    first = before.v1.customers.create({"email": "ann@example.com", "name": "Ann"}, options)

    after = stripe.StripeClient(
        _new_secret(runtime, secret_key, how), base_addresses={"api": live_server}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError):
        before.v1.customers.list()
    # The SDK encodes parameters in the order given: the retry also sends them reordered.
    again = after.v1.customers.create({"name": "Ann", "email": "ann@example.com"}, options)

    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert _customers(runtime) == 1
    with pytest.raises(stripe.IdempotencyError):
        after.v1.customers.create({"name": "Bob", "email": "ann@example.com"}, options)


def test_one_key_is_one_request_whichever_api_key_sends_it(
    client: TestClient, runtime: Runtime, secret_key: str
) -> None:
    with runtime.sessionmaker() as session:
        _key, second_secret = create_api_key(session, now=runtime.clock.now(), name="second")
        session.commit()
    headers = {"Idempotency-Key": "shared"}
    first = client.post(CUSTOMERS, data={"name": "Ann"}, headers=headers)
    again = client.post(
        CUSTOMERS, data={"name": "Ann"}, headers={**headers, "Authorization": f"Bearer {second_secret}"}
    )
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post(
        CUSTOMERS, data={"name": "Bob"}, headers={**headers, "Authorization": f"Bearer {second_secret}"}
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert _customers(runtime) == 1


def test_the_database_allows_one_record_per_key(runtime: Runtime) -> None:
    """The unique constraint, not only the lookup, is per account: concurrent retries lose on it."""
    with runtime.sessionmaker() as session:
        for api_key_id in ("ak_one", "ak_two"):
            session.add(
                IdempotencyRecord(
                    api_key_id=api_key_id, key="k", fingerprint="f", status_code=200, body="", created=1
                )
            )
        with pytest.raises(IntegrityError):
            session.commit()


# The same request spelled differently: each pair must replay.
SAME_REQUEST = [
    pytest.param(
        ("", "name=Ann&email=ann%40example.com", FORM),
        ("", "email=ann%40example.com&name=Ann", FORM),
        id="form-fields-reordered",
    ),
    pytest.param(
        ("", "metadata[a]=1&metadata[b]=2&name=Ann", FORM),
        ("", "name=Ann&metadata[b]=2&metadata[a]=1", FORM),
        id="nested-keys-reordered",
    ),
    pytest.param(
        ("", "preferred_locales[0]=fr&preferred_locales[1]=de", FORM),
        ("", "preferred_locales[1]=de&preferred_locales[0]=fr", FORM),
        id="indexes-sent-out-of-order",
    ),
    pytest.param(
        ("", "name=Ann+Lee", FORM),
        ("", "name=Ann%20Lee", FORM),
        id="other-percent-encoding",
    ),
    pytest.param(
        ("", json.dumps({"name": "Ann", "metadata": {"a": "1", "b": "2"}}), JSON),
        ("", json.dumps({"metadata": {"b": "2", "a": "1"}, "name": "Ann"}), JSON),
        id="json-keys-reordered",
    ),
    pytest.param(
        ("?name=Ann", "email=ann%40example.com", FORM),
        ("", "email=ann%40example.com&name=Ann", FORM),
        id="query-string-or-body",
    ),
]

# Different requests under one key: each second request is an `idempotency_error`.
OTHER_REQUEST = [
    pytest.param(("", "name=Ann", FORM), ("", "name=Bob", FORM), id="other-value"),
    pytest.param(("", "name=Ann", FORM), ("", "name=Ann&email=ann%40example.com", FORM), id="extra-param"),
    pytest.param(
        ("", "preferred_locales[0]=fr&preferred_locales[1]=de", FORM),
        ("", "preferred_locales[0]=de&preferred_locales[1]=fr", FORM),
        id="array-order",
    ),
    pytest.param(("?name=Ann", "", FORM), ("?name=Bob", "", FORM), id="other-query-string"),
    pytest.param(("", "name=Ann&expand[]=test_clock", FORM), ("", "name=Ann", FORM), id="other-expand"),
]


def _post(client: TestClient, request: tuple[str, str, dict[str, str]], key: str) -> tuple[int, bytes, bool]:
    query, body, headers = request
    response = client.post(CUSTOMERS + query, content=body, headers={**headers, "Idempotency-Key": key})
    return response.status_code, response.content, response.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize(("first", "second"), SAME_REQUEST)
def test_the_same_parameters_spelled_differently_replay(
    client: TestClient,
    runtime: Runtime,
    first: tuple[str, str, dict[str, str]],
    second: tuple[str, str, dict[str, str]],
) -> None:
    status, content, _ = _post(client, first, "spelled")
    assert status == 200, content
    again_status, again_content, replayed = _post(client, second, "spelled")
    assert (again_status, again_content, replayed) == (200, content, True)
    assert _customers(runtime) == 1


@pytest.mark.parametrize(("first", "second"), OTHER_REQUEST)
def test_other_parameters_are_an_idempotency_error(
    client: TestClient,
    runtime: Runtime,
    first: tuple[str, str, dict[str, str]],
    second: tuple[str, str, dict[str, str]],
) -> None:
    status, content, _ = _post(client, first, "other")
    assert status == 200, content
    again_status, again_content, _ = _post(client, second, "other")
    assert again_status == 400
    assert json.loads(again_content)["error"]["type"] == "idempotency_error"
    assert _customers(runtime) == 1


def test_the_same_key_on_another_endpoint_is_an_idempotency_error(client: TestClient) -> None:
    headers = {"Idempotency-Key": "two-endpoints"}
    assert client.post(CUSTOMERS, data={"name": "Ann"}, headers=headers).status_code == 200
    other = client.post("/v1/test_helpers/test_clocks", data={"frozen_time": "1700000000"}, headers=headers)
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"


def test_a_body_that_does_not_parse_is_refused_and_not_stored(client: TestClient, runtime: Runtime) -> None:
    """As on Stripe, nothing is saved before the endpoint begins: the key stays free for the real request."""
    headers = {**FORM, "Idempotency-Key": "unparsed"}
    refused = client.post(CUSTOMERS, content="preferred_locales[3]=fr", headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "preferred_locales"
    created = client.post(CUSTOMERS, content="preferred_locales[0]=fr", headers=headers)
    assert created.status_code == 200
    assert "Idempotent-Replayed" not in created.headers
    assert _customers(runtime) == 1


def test_a_record_stored_before_the_upgrade_still_replays(client: TestClient, runtime: Runtime) -> None:
    """Records made before migration 0017 hold the raw-body fingerprint: retries across the upgrade replay."""
    body = "name=Ann&email=ann%40example.com"
    stored = '{"id":"cus_storedbeforeupgrade","object":"customer"}'
    with runtime.sessionmaker() as session:
        session.add(
            IdempotencyRecord(
                api_key_id="ak_before",
                key="across-upgrade",
                fingerprint=legacy_fingerprint("POST", CUSTOMERS, body.encode()),
                status_code=200,
                body=runtime.response_box.encrypt(stored),
                created=runtime.clock.now(),
            )
        )
        session.commit()
    headers = {**FORM, "Idempotency-Key": "across-upgrade"}
    again = client.post(CUSTOMERS, content=body, headers=headers)
    assert (again.status_code, again.text, again.headers["Idempotent-Replayed"]) == (200, stored, "true")
    other = client.post(CUSTOMERS, content="name=Bob", headers=headers)
    assert other.json()["error"]["type"] == "idempotency_error"
    assert _customers(runtime) == 0


# -- the migration: one record per key, keeping the newest ------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('migration')}/tenure.sqlite3"
        return
    server: str = request.getfixturevalue("postgres_server_url")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS tenure_idempotency_migration"))
        connection.execute(text("CREATE DATABASE tenure_idempotency_migration"))
    yield server.rpartition("/")[0] + "/tenure_idempotency_migration"
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS tenure_idempotency_migration WITH (FORCE)"))
    admin.dispose()


REVISION = "0017"


def test_the_migration_keeps_the_newest_record_of_a_key_used_with_several_api_keys(
    empty_database_url: str,
) -> None:
    config = alembic_config(empty_database_url)
    previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    command.upgrade(config, previous)
    rows = [  # (pk, api_key_id, key, created)
        (1, "ak_old", "retried", 100),
        (2, "ak_new", "retried", 200),
        (3, "ak_old", "same-second", 300),
        (4, "ak_new", "same-second", 300),
        (5, "ak_old", "alone", 50),
        (6, "ak_other", "retried", 150),
    ]
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        for pk, api_key_id, key, created in rows:
            connection.execute(
                text(
                    "INSERT INTO idempotency_records"
                    " (pk, api_key_id, key, fingerprint, status_code, body, created)"
                    " VALUES (:pk, :api_key_id, :key, 'f', 200, 'b', :created)"
                ),
                {"pk": pk, "api_key_id": api_key_id, "key": key, "created": created},
            )
    engine.dispose()

    command.upgrade(config, REVISION)
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT pk FROM idempotency_records ORDER BY pk")).scalars().all()
    assert kept == [2, 4, 5]  # the newest of each key; the later insert when two share a second
    with engine.begin() as connection, pytest.raises(IntegrityError):
        connection.execute(
            text(
                "INSERT INTO idempotency_records (api_key_id, key, fingerprint, status_code, body, created)"
                " VALUES ('ak_third', 'alone', 'f', 200, 'b', 400)"
            )
        )
    engine.dispose()

    command.downgrade(config, previous)  # and back: the old per-API-key constraint
    command.upgrade(config, REVISION)
