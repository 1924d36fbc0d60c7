"""CSRF: every form POST outside the API carries a token bound to its browser session. Without
one, with a forged one, or with a valid one from another session, the POST is refused with the
"form has expired" page (403) and changes nothing in the database.

The forms are the app's own POST routes (`app.routes`): a new form is in this matrix the day it
lands, and fails here if it forgets its token.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tests.security.conftest import (
    World,
    browser_routes,
    changed_tables,
    csrf_of,
    fill,
    snapshot,
)

# POST routes that are not forms, and why they need no token.
NOT_FORMS = {
    "/dashboard/{path:path}": "the dashboard's catch-all answers 404 to anything posted (checked below)",
}
# Everything a form might send, so that the token is the only thing missing.
BODY = {
    "flow": "",
    "reason": "other",
    "comment": "csrf probe",
    "answer": "decline",
    "price": "",
    "email": "mallory@example.com",
    "name": "Mallory",
    "action": "pay",
    "method": "card",
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12 / 34",
    "card_cvc": "123",
    "mode": "immediately",
    "feedback": "other",
    "percent_off": "50",
    "duration": "once",
    "coupon": "",
    "code": "PROBE",
    "query": "SELECT 1",
    "url": "https://hooks.example/probe",
    "enabled_events": "*",
    "event": "",
    "disabled": "true",
    "password": "correct horse battery",
}
EXPIRED = "reload the page"  # the words of the CSRF page, in the portal, checkout and dashboard


def foreign_token(world: World, path: str) -> str:
    """A token that is valid, but for another browser session of the same kind."""
    if path.startswith(("/dashboard/login", "/portal/login", "/portal/sign-in")):
        other = world.client()
        page = other.get(fill(path, world.values(path, world.attacker)))
        return csrf_of(page.text)
    if path.startswith("/dashboard"):
        return csrf_of(world.analyst.get("/dashboard").text)
    if path.startswith("/portal"):
        return world.victim.csrf
    if path.startswith("/checkout"):
        return csrf_of(world.client().get(f"/checkout/{world.checkout}").text)
    if path.startswith("/email/unsubscribe"):
        page = world.client().get(fill(path, world.values(path, world.victim)))
        return csrf_of(page.text)
    pytest.fail(f"{path}: no foreign token known (tests/security/test_csrf.py::foreign_token)")


def test_every_form_refuses_a_post_without_its_own_token(world: World, runtime: Runtime) -> None:
    forms = [route for route in browser_routes(world.app, "POST") if route.path not in NOT_FORMS]
    areas = {route.path.split("/")[1] for route in forms}
    assert areas == {"portal", "checkout", "email", "dashboard"}, areas  # the enumeration found them all
    assert len(forms) >= 30, [str(r) for r in forms]
    problems = []
    for route in forms:
        path = fill(route.path, world.values(route.path, world.attacker))
        variants = [
            ("no token", None),
            ("a forged token", "f" * 64),
            ("another session's token", foreign_token(world, route.path)),
        ]
        browser = world.browser_for(route.path, world.attacker)
        before = snapshot(runtime)
        for label, token in variants:
            data = dict(BODY) if token is None else {**BODY, "csrf_token": token}
            answer = browser.post(path, data=data, follow_redirects=False)
            if answer.status_code != 403 or EXPIRED not in answer.text:
                problems.append(f"{route} with {label}: {answer.status_code} {answer.text[:200]!r}")
        changed = changed_tables(before, snapshot(runtime))
        if changed:
            problems.append(f"{route}: refused posts changed {changed}")
    assert not problems, "\n".join(problems)


def test_the_dashboard_catch_all_changes_nothing(world: World, runtime: Runtime) -> None:
    admin = world.admin
    before = snapshot(runtime)
    answer = admin.post("/dashboard/no/such/form", data=BODY)
    assert answer.status_code == 404
    assert not changed_tables(before, snapshot(runtime))


def test_a_non_ascii_token_is_refused_not_a_server_error(world: World) -> None:
    """A token with characters `hmac.compare_digest` refuses as text (non-ASCII) is a 403, not a 500."""
    for path, browser in (
        (f"/portal/subscriptions/{world.attacker.subscription}/renew", world.attacker.browser),
        ("/dashboard/coupons", world.admin),
        (f"/checkout/{world.checkout}", world.checkout_browser),
    ):
        answer = browser.post(path, data={**BODY, "csrf_token": "jeton-volé-é"})
        assert answer.status_code == 403, (path, answer.status_code)


def test_one_click_unsubscribe_needs_no_token_but_the_signed_link(world: World, runtime: Runtime) -> None:
    """RFC 8058: a mail client's one-click POST carries no form token; the link's HMAC is the proof,
    and a link for someone else, or altered, changes nobody."""
    victim = world.values("/email/unsubscribe/", world.victim)["token"]
    anonymous: TestClient = world.client()
    before = snapshot(runtime)
    altered = victim[:-2] + ("AA" if not victim.endswith("AA") else "BB")
    answer = anonymous.post(f"/email/unsubscribe/{altered}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 404
    assert not changed_tables(before, snapshot(runtime))
    answer = anonymous.post(f"/email/unsubscribe/{victim}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    opted_out = world.api.get(f"/v1/customers/{world.victim.customer}").json()
    assert opted_out["tenure_marketing_opt_out"] is True
    assert (
        world.api.get(f"/v1/customers/{world.attacker.customer}").json()["tenure_marketing_opt_out"] is False
    )
