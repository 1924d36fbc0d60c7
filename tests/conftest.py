"""Fixtures: every database-backed test runs on SQLite and on PostgreSQL, each on a fresh store."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server: `TENURE_TEST_POSTGRES_URL`, else a throwaway cluster started here."""
    given = os.environ.get("TENURE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        cluster = PgCluster.start()
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
    """A migrated database shared by the PostgreSQL tests; each test starts from empty tables."""
    import psycopg

    base, _, _ = postgres_server_url.rpartition("/")
    plain = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS tenure_test")
        connection.execute("CREATE DATABASE tenure_test")
    url = f"{base}/tenure_test"
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
