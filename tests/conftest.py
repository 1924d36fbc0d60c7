"""Fixtures: every database-backed test runs on SQLite and on PostgreSQL, each on a fresh store.

`make test` runs the suite in parallel processes (pytest-xdist). Every fixture here is per process:
each worker has its own PostgreSQL cluster (or, with `TENURE_TEST_POSTGRES_URL`, its own database on
that server), its own SQLite template under its own temporary directory, its own Chromium, and free
ports. The end of this file starts the slow tests first, has the tests that use fixed database
names on a shared PostgreSQL server take turns, and marks the few `serial` tests.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import create_engine, inspect, text

from tenure.app import create_app
from tenure.config import Settings
from tenure.db.migrate import upgrade
from tenure.keys.service import create_key
from tenure.models import Base
from tenure.runtime import Runtime
from tenure.testing.drain import DrainConsumers
from tenure.testing.pgcluster import PgCluster, PostgresUnavailable

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Webhook tests deliver to receivers on loopback: private addresses are allowed unless a test says
# otherwise (`webhook_allow_private=False`). Here, so that Settings built anywhere see it.
os.environ.setdefault("TENURE_WEBHOOK_ALLOW_PRIVATE", "true")


def xdist_worker() -> str:
    """This process's pytest-xdist worker (`gw0`, `gw1`…), or "" when the tests run in one process."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server: `TENURE_TEST_POSTGRES_URL`, else a throwaway cluster started here (one
    per xdist worker: a session fixture lives in its worker's process)."""
    given = os.environ.get("TENURE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        cluster = PgCluster.start(label=xdist_worker())
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield cluster.url()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_template_url(postgres_server_url: str) -> str:
    """A migrated database shared by the PostgreSQL tests; each test starts from empty tables.
    `tenure_test`, or `tenure_test_gw0`… under xdist (the server may be one all workers share)."""
    import psycopg

    worker = xdist_worker()
    name = f"tenure_test_{worker}" if worker else "tenure_test"
    base, _, _ = postgres_server_url.rpartition("/")
    plain = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tenure.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        existing = set(inspect(connection).get_table_names())
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name in existing)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "data" / "tenure.sqlite3"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_template_url")
    _truncate_all(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="test-secret")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    built = Runtime.build(settings)
    yield built
    built.close()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    """The app, with the event log's consumers caught up before and after each request, so that
    tests read deliveries, insights rows and emails at once (the worker does this after commit)."""
    application = create_app(runtime)
    application.add_middleware(DrainConsumers, runtime=runtime)
    return application


@pytest.fixture
def app_without_drain(runtime: Runtime) -> FastAPI:
    """The app as `tenure serve` runs it: consumers follow only when a worker runs."""
    return create_app(runtime)


@pytest.fixture
def secret_key(runtime: Runtime) -> str:
    with runtime.sessionmaker() as session:
        _key, secret = create_key(session, now=runtime.clock.now(), name="tests")
        session.commit()
    return secret


@pytest.fixture
def client(app: FastAPI, secret_key: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {secret_key}"}) as test_client:
        yield test_client


@pytest.fixture
def anonymous_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(app: FastAPI, runtime: Runtime) -> Iterator[str]:
    """The app served by a real uvicorn on loopback, for clients with their own HTTP stack."""
    port = free_port()
    # Links Tenure builds (portal session URLs) must point at this server.
    runtime.settings.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# Browser fixtures live here, once: a session-scoped Playwright defined in several conftest modules
# would start twice in one thread, which Playwright's sync API refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("TENURE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        if IN_CI:
            pytest.fail("Chromium is required in CI (Debian package `chromium`)")
        pytest.skip("browser tests skipped: no Chromium installed (apt-get install chromium)")
    launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1000, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


# -- running under pytest-xdist (`make test`: `-n 3 --dist load --maxschedchunk 2`) -----------------

# Fixtures that create a PostgreSQL database of a fixed name next to `postgres_server_url`'s. Each
# worker's own cluster has its own; but on a server the workers share (`TENURE_TEST_POSTGRES_URL`)
# two workers would drop each other's, so there the tests using them take turns (a file lock in the
# run's temporary directory, which the workers share).
FIXED_NAME_DATABASE_FIXTURES = frozenset({"empty_database_url", "empty_url"})


@pytest.fixture(autouse=True)
def _fixed_name_databases_one_worker_at_a_time(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    shared_server = xdist_worker() and os.environ.get("TENURE_TEST_POSTGRES_URL")
    if not (shared_server and FIXED_NAME_DATABASE_FIXTURES & set(request.fixturenames)):
        yield
        return
    lock = tmp_path_factory.getbasetemp().parent / "postgres-fixed-database-names.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, after the test
        yield


# Tests that assert wall-clock bounds which other workers' load on the CPUs breaks (a server's
# start within 5 s, `/healthz` answering in 0.1 s under a burst of slow queries): marked `serial`,
# they run after the parallel run, alone (see the Makefile's `test`).
SERIAL_TESTS = frozenset(
    {
        "tests/test_cli.py::test_serve_in_an_empty_directory_answers_healthz_quickly",
        "tests/security/test_sql_console.py::test_slow_queries_cannot_starve_the_server",
    }
)


def _longer_timeout(item: pytest.Item, default: float) -> float:
    """The timeout the test declares with `@pytest.mark.timeout(…)` if above the default, else 0."""
    marker = item.get_closest_marker("timeout")
    value = marker.args[0] if marker is not None and marker.args else None
    return float(value) if isinstance(value, int | float) and value > default else 0.0


# First, so that the marks are there when `-m` selects.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.partition("[")[0] in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)
    if not xdist_worker():
        return
    # The tests that declare a longer timeout take minutes (seeded books, fuzzing, crash and restart
    # scenarios): start them first, longest first, so that none is left to run alone at the end
    # while the other workers sit idle. `--maxschedchunk 2` hands tests out two at a time, so they
    # spread over the workers rather than all landing in the first worker's first batch. Every
    # worker sorts alike: their collections stay identical, as xdist requires.
    default = float(config.getini("timeout") or 0)
    items.sort(key=lambda item: -_longer_timeout(item, default))
