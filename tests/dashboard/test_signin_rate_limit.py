"""The sign-in form's per-address rate limit (`TENURE_RATE_LIMIT_SIGNIN` per minute): a 429 page that
reads the same for every email, before any account is looked up; other addresses are not affected.
On PostgreSQL the buckets are the database's, which every server shares."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tests.api.test_rate_limits import FakeMonotonic, limiters_on
from tests.dashboard.conftest import ADMIN, csrf_of, sign_in


def install(app: FastAPI, runtime: Runtime, clock: FakeMonotonic, *, per_minute: int) -> None:
    settings = runtime.settings.model_copy(update={"rate_limit_signin": per_minute})
    app.state.rate_limiters = limiters_on(runtime, settings, clock)


def test_sign_in_attempts_are_limited_per_address(app: FastAPI, runtime: Runtime, staff: None) -> None:
    clock = FakeMonotonic()
    install(app, runtime, clock, per_minute=3)
    with TestClient(app) as browser:
        assert [sign_in(browser, ADMIN[0], f"guess {n}").status_code for n in range(3)] == [401] * 3
        known = sign_in(browser, *ADMIN)  # even the right password waits
        unknown = sign_in(browser, "nobody@example.com", "whatever")
    assert known.status_code == unknown.status_code == 429
    assert known.headers["retry-after"] == unknown.headers["retry-after"] == "20"  # 3 a minute
    assert "Too many sign-in attempts from your network. Please wait 20 seconds" in known.text
    assert "tenure_dashboard=" not in known.headers.get("set-cookie", "")
    # Nothing tells the accounts apart: the pages differ only by the email typed and the token.
    strip = lambda text: text.replace(ADMIN[0], "").replace("nobody@example.com", "")  # noqa: E731
    assert strip(known.text).replace(csrf_of(known.text), "") == strip(unknown.text).replace(
        csrf_of(unknown.text), ""
    )

    with TestClient(app, client=("203.0.113.7", 50000)) as elsewhere:
        assert sign_in(elsewhere, *ADMIN).status_code == 303

    clock.now += 20  # one attempt back, and only one
    with TestClient(app) as browser:
        assert sign_in(browser, *ADMIN).status_code == 303
    with TestClient(app) as colleague:
        assert sign_in(colleague, *ADMIN).status_code == 429
