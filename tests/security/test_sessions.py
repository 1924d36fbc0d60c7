"""Session fixation and replay: portal URLs, sign-in and email links, checkout URLs, staff sessions.

A URL that opens a session works once and briefly; the cookie it leaves is a fresh random token
chosen by the server (a value planted beforehand grants nothing); cookies are HttpOnly, SameSite
and Secure behind HTTPS; links cannot be altered; malformed ones are clear pages, never errors.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient

from tenure.clock import FrozenClock
from tenure.runtime import Runtime
from tests.checkout.conftest import card_form
from tests.dashboard.conftest import ADMIN, sign_in
from tests.security.conftest import World, changed_tables, csrf_of, snapshot

PLANTED = "planted-by-the-attacker-0123456789abcdef0123456789"
EXPIRED = "This link has expired"


def set_cookie(response: object, name: str) -> dict[str, str]:
    """The attributes of the cookie `name` set by a response (lower-cased names; `value` too)."""
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            morsel = jar[name]
            found = {key: str(value) for key, value in morsel.items() if value}
            found["value"] = morsel.value
            found["flags"] = header.lower()
            return found
    raise AssertionError(f"no {name} cookie set")


def test_a_portal_url_opens_once_and_only_within_five_minutes(world: World, clock: FrozenClock) -> None:
    url = world.portal_url(world.victim.customer)
    first = world.client().get(url, follow_redirects=False)
    assert first.status_code == 303
    # Opening reveals nothing to the next site: no Referer with the secret, nothing cached.
    assert first.headers["referrer-policy"] == "no-referrer"
    assert first.headers["cache-control"] == "no-store"
    for replay in (world.client(), world.client()):
        again = replay.get(url, follow_redirects=False)
        assert again.status_code == 410 and EXPIRED in again.text
    late = world.portal_url(world.victim.customer)
    clock.advance(300)
    answer = world.client().get(late, follow_redirects=False)
    assert answer.status_code == 410 and EXPIRED in answer.text


def test_a_planted_portal_cookie_is_replaced_and_grants_nothing(world: World, clock: FrozenClock) -> None:
    planted = {"Cookie": f"tenure_portal={PLANTED}"}
    browser = world.client()
    assert browser.get("/portal", headers=planted).status_code == 401
    opened = browser.get(world.portal_url(world.victim.customer), headers=planted, follow_redirects=False)
    cookie = set_cookie(opened, "tenure_portal")
    assert cookie["value"] != PLANTED and len(cookie["value"]) >= 40
    assert "httponly" in cookie["flags"] and cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/portal" and "secure" not in cookie["flags"]
    assert world.client().get("/portal", headers=planted).status_code == 401
    holder = world.client()
    assert holder.get("/portal", headers={"Cookie": f"tenure_portal={cookie['value']}"}).status_code == 200
    # The browser session lasts an hour.
    clock.advance(3600)
    answer = holder.get("/portal", headers={"Cookie": f"tenure_portal={cookie['value']}"})
    assert answer.status_code == 401 and EXPIRED in answer.text


def test_cookies_are_secure_behind_https(world: World) -> None:
    """Every cookie Tenure sets: HttpOnly, SameSite=Lax, scoped to its area, Secure behind HTTPS."""
    https = {"X-Forwarded-Proto": "https"}
    answers = {
        "tenure_portal": world.client().get(
            world.portal_url(world.victim.customer), headers=https, follow_redirects=False
        ),
        "tenure_dashboard_login": world.client().get("/dashboard/login", headers=https),
        "tenure_checkout": world.client().get(f"/checkout/{world.checkout}", headers=https),
        "tenure_login": world.client().get(f"/portal/login/{world.configuration}", headers=https),
    }
    for name, answer in answers.items():
        cookie = set_cookie(answer, name)
        assert "secure" in cookie["flags"] and "httponly" in cookie["flags"], name
        assert cookie["samesite"].lower() == "lax" and cookie["path"] != "/", name


def test_a_planted_staff_cookie_is_replaced_and_sign_out_ends_the_session(
    world: World, clock: FrozenClock
) -> None:
    assert world.admin  # the account exists
    browser = world.client()
    planted = {"Cookie": f"tenure_dashboard={PLANTED}"}
    assert browser.get("/dashboard", headers=planted, follow_redirects=False).status_code == 303
    form = browser.get("/dashboard/login")
    pre_session = browser.cookies["tenure_dashboard_login"]
    signed_in = browser.post(
        "/dashboard/login",
        data={"csrf_token": csrf_of(form.text), "email": ADMIN[0], "password": ADMIN[1]},
        headers={"Cookie": f"tenure_dashboard={PLANTED}; tenure_dashboard_login={pre_session}"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    cookie = set_cookie(signed_in, "tenure_dashboard")
    assert cookie["value"] != PLANTED and len(cookie["value"]) >= 40
    assert "httponly" in cookie["flags"] and cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/dashboard"
    assert world.client().get("/dashboard", headers=planted, follow_redirects=False).status_code == 303
    held = {"Cookie": f"tenure_dashboard={cookie['value']}"}
    replay = world.client()
    overview = replay.get("/dashboard", headers=held)
    assert overview.status_code == 200
    out = replay.post(
        "/dashboard/logout", data={"csrf_token": csrf_of(overview.text)}, headers=held, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    # The server forgot the session: the old cookie, replayed, is nobody.
    stale = world.client().get("/dashboard", headers=held, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/dashboard/login")
    # And a session ends by itself after a working day.
    other = world.client()
    assert sign_in(other, *ADMIN).status_code == 303
    assert other.get("/dashboard", follow_redirects=False).status_code == 200
    clock.advance(8 * 3600)
    assert other.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_sign_in_link_works_once_for_thirty_minutes(world: World, clock: FrozenClock) -> None:
    path = f"/portal/sign-in/{world.sign_in_token}"
    browser = world.client()
    token = csrf_of(browser.get(path).text)
    used = browser.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert used.status_code == 303 and "/portal/session/" in used.headers["location"]
    assert used.headers["referrer-policy"] == "no-referrer"
    again = browser.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 410 and EXPIRED in again.text
    assert world.client().get(path).status_code == 410
    late = world.login_link(world.victim)
    clock.advance(30 * 60)
    assert world.client().get(f"/portal/sign-in/{late}").status_code == 410


def test_email_links_cannot_be_altered_and_expire(world: World, clock: FrozenClock, runtime: Runtime) -> None:
    token = world.email_link(world.victim)
    payload, _, signature = token.rpartition(".")
    attacker_payload = world.email_link(world.attacker).rpartition(".")[0]
    for altered in (
        f"{attacker_payload}.{signature}",
        f"{payload}.{signature[::-1]}",
        payload,
        f"{payload}.",
    ):
        answer = world.client().get(f"/portal/email-link/{altered}", follow_redirects=False)
        assert answer.status_code == 410, altered
    opened = world.client().get(f"/portal/email-link/{token}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["referrer-policy"] == "no-referrer"
    clock.advance(3600)
    assert world.client().get(f"/portal/email-link/{token}", follow_redirects=False).status_code == 410


def test_a_completed_checkout_url_replayed_completes_nothing(world: World, runtime: Runtime) -> None:
    browser, path = world.checkout_browser, f"/checkout/{world.checkout}"
    done = browser.post(path, data=card_form(world.checkout_csrf), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("https://shop.example/thanks")
    before = snapshot(runtime)
    for replay in (browser, world.client()):
        assert replay.get(path, follow_redirects=False).headers["location"] == done.headers["location"]
        again = replay.post(path, data=card_form(world.checkout_csrf), follow_redirects=False)
        assert again.status_code in (303, 403)
    assert not changed_tables(before, snapshot(runtime))


def test_an_expired_checkout_url_cannot_be_completed(
    world: World, clock: FrozenClock, runtime: Runtime
) -> None:
    browser = world.client()
    checkout = world.open_checkout()
    token = csrf_of(browser.get(f"/checkout/{checkout}").text)
    clock.advance(25 * 3600)
    answer = browser.post(f"/checkout/{checkout}", data=card_form(token), follow_redirects=False)
    assert answer.status_code == 410
    status = world.api.get(f"/v1/checkout/sessions/{checkout}").json()
    assert status["status"] == "expired" and status["customer"] is None


MALFORMED = [
    "x",
    "é",
    "x.é",
    "é.é",
    "%2e%2e%2fetc",
    "' OR '1'='1",
    "a" * 3000,
    "x.y.z",
    "%00",
    "\u202e",
    "%ED%A0%80.%FF",  # not UTF-8 at all
]


@pytest.mark.parametrize(
    "template",
    [
        "/portal/session/{}",
        "/portal/sign-in/{}",
        "/portal/email-link/{}",
        "/email/unsubscribe/{}",
        "/checkout/{}",
    ],
)
def test_malformed_links_are_clear_pages_never_errors(anonymous_client: TestClient, template: str) -> None:
    for value in MALFORMED:
        answer = anonymous_client.get(template.format(value), follow_redirects=False)
        assert answer.status_code in (404, 410), (value[:20], answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), (value[:20], answer.status_code)
        if not template.startswith(("/portal/session", "/portal/email-link", "/checkout")):
            posted = anonymous_client.post(template.format(value), data={"csrf_token": "x"})
            assert posted.status_code in (403, 404, 410), (value[:20], posted.status_code)


def test_odd_session_cookies_are_nobody(anonymous_client: TestClient) -> None:
    for value in ("", "x", "é", "a" * 5000, "%00"):
        for name, path, expected in (
            ("tenure_portal", "/portal", 401),
            ("tenure_dashboard", "/dashboard", 303),
        ):
            cookie = f"{name}={value}".encode()  # bytes: the raw header, whatever its characters
            answer = anonymous_client.get(path, headers={"Cookie": cookie}, follow_redirects=False)
            assert answer.status_code == expected, (name, value[:10], answer.status_code)
