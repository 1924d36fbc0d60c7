"""Signing in and out: argon2 passwords, one message for every failure, throttling, expiring sessions."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenure.clock import FrozenClock
from tenure.dashboard import auth
from tenure.dashboard.auth import SESSION_SECONDS, THROTTLE_WINDOW_SECONDS
from tenure.dashboard.signin import GENERIC_FAILURE
from tenure.runtime import Runtime
from tests.dashboard.conftest import ADMIN, ANALYST, csrf_of, page_csrf, sign_in


def test_sign_in_then_out(app: FastAPI, staff: None) -> None:
    with TestClient(app) as browser:
        answer = sign_in(browser, *ADMIN)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard"
        cookie = answer.cookies["tenure_dashboard"]
        assert "httponly" in answer.headers["set-cookie"].lower()
        overview = browser.get("/dashboard")
        assert overview.status_code == 200
        assert ADMIN[0] in overview.text
        assert overview.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in overview.headers["content-security-policy"]

        assert browser.post("/dashboard/logout", data={}).status_code == 403  # no CSRF token
        out = browser.post(
            "/dashboard/logout", data={"csrf_token": csrf_of(overview.text)}, follow_redirects=False
        )
        assert out.status_code == 303
        assert out.headers["location"] == "/dashboard/login"
    with TestClient(app, cookies={"tenure_dashboard": cookie}) as replay:
        # The session is gone from the store: its old cookie opens nothing.
        again = replay.get("/dashboard", follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"].startswith("/dashboard/login")


def test_wrong_password_and_unknown_email_read_the_same(app: FastAPI, staff: None) -> None:
    with TestClient(app) as browser:
        wrong = sign_in(browser, ADMIN[0], "not the password")
        unknown = sign_in(browser, "nobody@example.com", ADMIN[1])
    assert wrong.status_code == unknown.status_code == 401
    for answer in (wrong, unknown):
        assert GENERIC_FAILURE in answer.text
        assert "tenure_dashboard=" not in answer.headers.get("set-cookie", "")
    strip = lambda text: text.replace(ADMIN[0], "").replace("nobody@example.com", "")  # noqa: E731
    assert strip(wrong.text).replace(csrf_of(wrong.text), "") == strip(unknown.text).replace(
        csrf_of(unknown.text), ""
    )


def test_ten_failures_in_a_row_are_throttled(app: FastAPI, runtime: Runtime, staff: None) -> None:
    clock = FrozenClock(1_800_000_000)
    runtime.clock = clock
    with TestClient(app) as browser:
        statuses = [sign_in(browser, ADMIN[0], f"guess {n}").status_code for n in range(10)]
        assert statuses == [401] * 5 + [429] * 5
        throttled = sign_in(browser, *ADMIN)  # even the right password waits
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in throttled.text
        # An unknown email is throttled exactly like a known one.
        unknown = [sign_in(browser, "ghost@example.com", "x").status_code for _ in range(6)]
        assert unknown == [401] * 5 + [429]
        clock.advance(THROTTLE_WINDOW_SECONDS + 1)
        assert sign_in(browser, *ADMIN).status_code == 303
    with TestClient(app) as colleague:
        # Another account from the same address is not locked out by those failures.
        assert sign_in(colleague, *ANALYST).status_code == 303


def test_many_accounts_from_one_address_are_throttled_too(
    app: FastAPI, runtime: Runtime, staff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "MAX_FAILURES_PER_ADDRESS", 4)  # 20 in production: fewer argon2 checks here
    runtime.clock = FrozenClock(1_800_000_000)
    with TestClient(app) as browser:
        statuses = [sign_in(browser, f"user{n}@example.com", "guess").status_code for n in range(5)]
    assert statuses == [401] * 4 + [429]


def test_sessions_expire(app: FastAPI, runtime: Runtime, staff: None) -> None:
    clock = FrozenClock(1_800_000_000)
    runtime.clock = clock
    with TestClient(app) as browser:
        assert sign_in(browser, *ADMIN).status_code == 303
        clock.advance(SESSION_SECONDS - 60)
        assert browser.get("/dashboard").status_code == 200
        clock.advance(120)
        expired = browser.get("/dashboard/subscriptions", follow_redirects=False)
        assert expired.status_code == 303
        assert expired.headers["location"] == "/dashboard/login?next=" + quote(
            "/dashboard/subscriptions", safe=""
        )


def test_the_sign_in_form_needs_its_csrf_token(app: FastAPI, staff: None) -> None:
    with TestClient(app) as browser:
        browser.get("/dashboard/login")
        missing = browser.post("/dashboard/login", data={"email": ADMIN[0], "password": ADMIN[1]})
        assert missing.status_code == 403
        forged = browser.post(
            "/dashboard/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": "0" * 64}
        )
        assert forged.status_code == 403
    with TestClient(app) as other:
        # A token from another browser's sign-in page is refused.
        token = csrf_of(other.get("/dashboard/login").text)
    with TestClient(app) as browser:
        browser.get("/dashboard/login")
        stolen = browser.post(
            "/dashboard/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
        )
        assert stolen.status_code == 403


def test_sign_in_returns_to_the_page_asked_for_and_only_inside_the_dashboard(
    app: FastAPI, staff: None
) -> None:
    with TestClient(app) as browser:
        asked = browser.get("/dashboard/subscriptions?tab=canceled", follow_redirects=False)
        assert asked.status_code == 303
        login_url = asked.headers["location"]
        assert login_url.startswith("/dashboard/login?next=")
        form = browser.get(login_url)
        assert 'value="/dashboard/subscriptions?tab=canceled"' in form.text
        answer = sign_in(browser, *ADMIN, next_path="/dashboard/subscriptions?tab=canceled")
        assert answer.headers["location"] == "/dashboard/subscriptions?tab=canceled"
    for target in ("https://evil.example/", "//evil.example/dashboard", "/portal", "/dashboard/login"):
        with TestClient(app) as browser:
            answer = sign_in(browser, *ADMIN, next_path=target)
            assert answer.headers["location"] == "/dashboard", target


def test_signed_in_visitors_skip_the_form_and_unknown_pages_are_dashboard_404s(admin: TestClient) -> None:
    assert admin.get("/dashboard/login", follow_redirects=False).headers["location"] == "/dashboard"
    assert admin.get("/dashboard/", follow_redirects=False).headers["location"] == "/dashboard"
    missing = admin.get("/dashboard/no-such-page")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert admin.get("/dashboard/subscriptions/sub_nothing").status_code == 404
    page_csrf(admin)
