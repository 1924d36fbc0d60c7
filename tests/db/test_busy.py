"""When SQLite's writers queue past their bounds, a write is refused at once with a 503 that says so
(Stripe's `api_error` body and `Retry-After` on the API, the error page on the portal in the
customer's language and on the dashboard), nothing is written, and reads are still served: API key
lookups, idempotent replays, portal and dashboard pages that only read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.app import create_app
from tenure.config import Settings
from tenure.customers.models import Customer
from tenure.db.engine import WriteQueue, write_queue_of
from tenure.runtime import Runtime
from tenure.staff.models import StaffRole
from tenure.staff.service import create_staff
from tests.portal.conftest import SESSIONS, Shop
from tests.subscriptions.conftest import ok

WAIT_SECONDS = 0.5
PASSWORD = "a long passphrase"
# Far below SQLite's 30 s busy timeout, and generous for a loaded machine.
QUICKLY = 10.0


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret",
        sqlite_write_queue_max=1,
        sqlite_write_wait_seconds=WAIT_SECONDS,
    )


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    """The app as `tenure serve` runs it (no test middleware writing around each request)."""
    return create_app(runtime)


@pytest.fixture
def queue(runtime: Runtime) -> WriteQueue:
    if runtime.database_kind != "sqlite":
        pytest.skip("PostgreSQL writers do not queue")
    found = write_queue_of(runtime.engine)
    assert found is not None
    return found


@pytest.fixture
def held(queue: WriteQueue) -> Iterator[WriteQueue]:
    """Another writer of this process has the turn for the whole test."""
    queue.acquire()
    try:
        yield queue
    finally:
        queue.release()


def _customers(runtime: Runtime) -> int:
    with runtime.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


def test_a_write_that_waited_too_long_is_refused_with_stripes_error(
    client: TestClient, runtime: Runtime, held: WriteQueue
) -> None:
    started = time.monotonic()
    response = client.post("/v1/customers", data={"email": "late@example.com"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert WAIT_SECONDS <= elapsed < QUICKLY
    error = response.json()["error"]
    assert error["type"] == "api_error"
    assert "busy" in error["message"]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Stripe-Should-Retry"] == "true"
    assert _customers(runtime) == 0


def test_a_write_beyond_a_full_queue_is_refused_at_once(
    client: TestClient, runtime: Runtime, queue: WriteQueue
) -> None:
    queue.max_wait_seconds = QUICKLY * 3  # the one place in the queue stays taken for the whole test
    queue.acquire()
    waiter = threading.Thread(target=lambda: (queue.acquire(), queue.release()))
    try:
        waiter.start()
        deadline = time.monotonic() + QUICKLY
        while queue.waiting < 1 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert queue.waiting == 1
        started = time.monotonic()
        response = client.post("/v1/customers", data={"email": "one@example.com"})
        assert time.monotonic() - started < QUICKLY  # refused without waiting its turn
    finally:
        queue.release()
        waiter.join(QUICKLY)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["type"] == "api_error"
    assert _customers(runtime) == 0


def test_a_refused_idempotent_request_can_be_sent_again(
    client: TestClient, runtime: Runtime, queue: WriteQueue
) -> None:
    headers = {"Idempotency-Key": "busy-then-free"}
    queue.acquire()
    try:
        refused = client.post("/v1/customers", data={"email": "again@example.com"}, headers=headers)
    finally:
        queue.release()
    assert refused.status_code == 503
    created = client.post("/v1/customers", data={"email": "again@example.com"}, headers=headers)
    assert created.status_code == 200, created.text
    assert "Idempotent-Replayed" not in created.headers
    assert _customers(runtime) == 1


def test_key_lookups_and_replays_are_answered_while_writes_are_refused(
    client: TestClient, runtime: Runtime, queue: WriteQueue
) -> None:
    headers = {"Idempotency-Key": "made-before"}
    created = client.post("/v1/customers", data={"email": "first@example.com"}, headers=headers)
    assert created.status_code == 200, created.text
    queue.acquire()
    try:
        replayed = client.post("/v1/customers", data={"email": "first@example.com"}, headers=headers)
        unknown = client.post(
            "/v1/customers", data={"email": "x@example.com"}, headers={"Authorization": "Bearer sk_test_nope"}
        )
    finally:
        queue.release()
    assert replayed.status_code == 200, replayed.text
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == created.json()["id"]
    assert unknown.status_code == 401, unknown.text
    assert _customers(runtime) == 1


def _portal_browser(
    client: TestClient, app: FastAPI, runtime: Runtime, **session: str
) -> tuple[TestClient, str, str]:
    """A browser with an open portal session, a subscription of its customer, and the CSRF token."""
    shop = Shop(client)
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    browser = TestClient(app, base_url=runtime.settings.public_base_url)
    url = ok(client.post(SESSIONS, data={"customer": customer, **session}))["url"]
    assert browser.get(url).status_code == 200  # opens the session: the cookie is set
    cancel = browser.get(f"/portal/subscriptions/{subscription}/cancel")
    assert cancel.status_code == 200
    return browser, subscription, _csrf(cancel.text)


def test_portal_pages_that_only_read_are_served_while_writes_are_refused(
    client: TestClient, app: FastAPI, runtime: Runtime, queue: WriteQueue
) -> None:
    browser, subscription, csrf = _portal_browser(client, app, runtime)
    queue.acquire()
    try:
        assert browser.get("/portal").status_code == 200
        started = time.monotonic()
        refused = browser.post(
            f"/portal/subscriptions/{subscription}/renew", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert time.monotonic() - started < QUICKLY
    finally:
        queue.release()
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["content-type"].startswith("text/html")
    assert "Nothing was changed" in refused.text
    renewed = browser.post(
        f"/portal/subscriptions/{subscription}/renew", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert renewed.status_code == 303


def test_a_refused_portal_form_is_answered_in_the_customers_language(
    client: TestClient, app: FastAPI, runtime: Runtime, queue: WriteQueue
) -> None:
    browser, subscription, csrf = _portal_browser(client, app, runtime, locale="fr")
    queue.acquire()
    try:
        refused = browser.post(
            f"/portal/subscriptions/{subscription}/renew",
            data={"csrf_token": csrf},
            headers={"Accept-Language": "de"},  # the session's language comes first
            follow_redirects=False,
        )
    finally:
        queue.release()
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "Rien n’a été modifié" in refused.text
    assert "Nothing was changed" not in refused.text


@pytest.fixture
def staff_browser(app: FastAPI, runtime: Runtime) -> Iterator[TestClient]:
    with runtime.sessionmaker() as session:
        create_staff(
            session, email="ops@example.com", password=PASSWORD, role=StaffRole.ADMIN, now=runtime.clock.now()
        )
        session.commit()
    with TestClient(app) as browser:
        login = browser.get("/dashboard/login")
        signed_in = browser.post(
            "/dashboard/login",
            data={"csrf_token": _csrf(login.text), "email": "ops@example.com", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        yield browser


def _sign_out_refused(browser: TestClient, queue: WriteQueue) -> tuple[int, Any]:
    queue.acquire()
    try:
        overview = browser.get("/dashboard")  # read while another writer has the turn
        refused = browser.post(
            "/dashboard/logout", data={"csrf_token": _csrf(overview.text)}, follow_redirects=False
        )
    finally:
        queue.release()
    return overview.status_code, refused


def test_dashboard_pages_are_read_while_its_forms_are_refused(
    staff_browser: TestClient, queue: WriteQueue
) -> None:
    overview, refused = _sign_out_refused(staff_browser, queue)
    assert overview == 200
    assert refused.status_code == 503
    assert staff_browser.get("/dashboard").status_code == 200  # still signed in: nothing was changed


def test_a_refused_dashboard_form_is_a_503_page(staff_browser: TestClient, queue: WriteQueue) -> None:
    _overview, refused = _sign_out_refused(staff_browser, queue)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["content-type"].startswith("text/html")
    assert "Nothing was changed" in refused.text


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
