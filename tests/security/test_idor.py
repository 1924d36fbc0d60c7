"""Access control. In the portal a customer reaches only their own objects: another customer's
subscription, payment method, cancellation flow — or a price the portal does not offer — is a 404
page that reveals and changes nothing, on every portal route that names an object. Without a
session, portal and dashboard routes refuse; an analyst's valid token changes nothing.

Routes come from `app.routes`, so a new portal page naming an object is in the matrix at once.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tests.security.conftest import (
    Account,
    World,
    browser_routes,
    changed_tables,
    csrf_of,
    fill,
    snapshot,
)

# Path parameters that name an object a customer owns; the others are bearer links (their own
# secret, tested in test_sessions.py) or public by design (a configuration's login page).
OWNED = {"subscription_id", "payment_method_id"}
NOT_OWNED = {"token", "secret", "configuration_id"}
NOT_FOUND = "We could not find what you were looking for."


def portal_routes(world: World) -> list[tuple[str, str]]:
    routes = [
        r for m in ("GET", "POST") for r in browser_routes(world.app, m) if r.path.startswith("/portal")
    ]
    for route in routes:
        unknown = set(route.params) - OWNED - NOT_OWNED
        assert not unknown, (
            f"{route}: classify {unknown} as OWNED or NOT_OWNED in tests/security/test_idor.py"
        )
    return [(r.method, r.path) for r in routes if set(r.params) & OWNED]


def secrets_of(account: Account) -> list[str]:
    """What must never show in another customer's pages."""
    return [
        account.customer,
        account.email,
        account.name,
        account.subscription,
        account.payment_method,
        account.invoice,
        account.invoice_number,
        account.flow,
    ]


def test_another_customers_objects_are_not_found_on_every_portal_route(
    world: World, runtime: Runtime
) -> None:
    routes = portal_routes(world)
    assert len(routes) >= 10, routes  # the enumeration found the object pages
    victim, attacker = world.victim, world.attacker
    problems = []
    before = snapshot(runtime)
    for method, template in routes:
        path = fill(template, world.values(template, victim))
        data = {"csrf_token": attacker.csrf, "flow": victim.flow, "reason": "other", "answer": "accept"}
        if method == "GET":
            answer = attacker.browser.get(path, params={"flow": victim.flow}, follow_redirects=False)
        else:
            answer = attacker.browser.post(path, data=data, follow_redirects=False)
        if answer.status_code != 404 or NOT_FOUND not in answer.text:
            problems.append(f"{method} {template}: {answer.status_code} {answer.headers.get('location')}")
        leaked = [value for value in secrets_of(victim) if value in answer.text]
        if leaked:
            problems.append(f"{method} {template}: shows {leaked}")
    assert not problems, "\n".join(problems)
    assert not changed_tables(before, snapshot(runtime))


def test_another_customers_flow_on_ones_own_subscription_is_refused(world: World, runtime: Runtime) -> None:
    """A cancellation flow belongs to one subscription: the victim's flow id does nothing to it."""
    victim, attacker = world.victim, world.attacker
    base = f"/portal/subscriptions/{attacker.subscription}/cancel"
    before = snapshot(runtime)
    for step in ("/reason", "/offer", "/done"):
        answer = attacker.browser.get(base + step, params={"flow": victim.flow}, follow_redirects=False)
        assert answer.status_code == 409, (step, answer.status_code)
        assert "Please start again from your account page." in answer.text
    for step in ("", "/reason", "/offer"):
        answer = attacker.browser.post(
            base + step,
            data={"csrf_token": attacker.csrf, "flow": victim.flow, "reason": "other", "answer": "decline"},
            follow_redirects=False,
        )
        assert answer.status_code == 409, (step, answer.status_code)
    assert not changed_tables(before, snapshot(runtime))


def test_a_price_the_portal_does_not_offer_cannot_be_chosen(world: World, runtime: Runtime) -> None:
    attacker = world.attacker
    unlisted = world.business.post(
        "/v1/prices",
        product=world.product,
        unit_amount="1",
        currency="eur",
        **{"recurring[interval]": "month"},
    )["id"]
    base = f"/portal/subscriptions/{attacker.subscription}/plan"
    before = snapshot(runtime)
    assert attacker.browser.get(base, params={"price": unlisted}).status_code == 404
    answer = attacker.browser.post(base, data={"csrf_token": attacker.csrf, "price": unlisted})
    assert answer.status_code == 404
    assert not changed_tables(before, snapshot(runtime))
    item = world.api.get(f"/v1/subscriptions/{attacker.subscription}").json()["items"]["data"][0]
    assert item["price"]["id"] == world.business.monthly


def test_ones_own_pages_show_nothing_of_another_customer(world: World) -> None:
    """Lists (subscriptions, payment methods, invoices, billing details) are the visitor's own."""
    victim, attacker = world.victim, world.attacker
    pages = [
        fill(r.path, world.values(r.path, attacker))
        for r in browser_routes(world.app, "GET")
        if r.path.startswith("/portal") and not set(r.params) & NOT_OWNED
    ]
    for path in pages:
        answer = attacker.browser.get(path, params={"flow": attacker.flow})
        assert answer.status_code == 200, (path, answer.status_code)
        leaked = [value for value in secrets_of(victim) if value in answer.text]
        assert not leaked, (path, leaked)
    home = attacker.browser.get("/portal").text
    assert attacker.invoice_number in home and attacker.email in home  # the visitor's own are there


def test_every_portal_and_dashboard_route_needs_its_session(world: World, runtime: Runtime) -> None:
    """No cookie: portal pages say the link has expired (401); dashboard pages send to sign-in."""
    stranger: TestClient = world.client()
    before = snapshot(runtime)
    checked = 0
    for method in ("GET", "POST"):
        for route in browser_routes(world.app, method):
            # Sign-in, checkout and email links are public pages; the catch-all is a 404 for everyone.
            if (
                set(route.params) & NOT_OWNED
                or route.path.startswith(("/dashboard/login", "/checkout", "/email"))
                or route.path == "/dashboard/{path:path}"
            ):
                continue
            path = fill(route.path, world.values(route.path, world.victim))
            answer = stranger.request(
                method, path, data={"csrf_token": "x"} if method == "POST" else None, follow_redirects=False
            )
            checked += 1
            if route.path.startswith("/portal"):
                assert answer.status_code == 401, (str(route), answer.status_code)
                assert "This link has expired" in answer.text
            elif method == "GET":
                assert answer.status_code == 303, (str(route), answer.status_code)
                assert answer.headers["location"].startswith("/dashboard/login")
            else:
                assert answer.status_code in (303, 401), (str(route), answer.status_code)
    assert checked >= 40
    assert not changed_tables(before, snapshot(runtime))


def test_an_analyst_changes_nothing_whatever_they_post(world: World, runtime: Runtime) -> None:
    """Analysts read (and run read-only SQL); every other dashboard form is refused, token or not."""
    reading = {"/dashboard/login", "/dashboard/logout", "/dashboard/sql", "/dashboard/{path:path}"}
    token = csrf_of(world.analyst.get("/dashboard").text)
    before = snapshot(runtime)
    forms = [r for r in browser_routes(world.app, "POST") if r.path.startswith("/dashboard")]
    for route in forms:
        if route.path in reading:
            continue
        path = fill(route.path, world.values(route.path, world.victim))
        answer = world.analyst.post(
            path, data={"csrf_token": token, "mode": "immediately", "feedback": "other", "percent_off": "50"}
        )
        assert answer.status_code == 403, (str(route), answer.status_code)
        assert "You cannot do this" in answer.text
    assert not changed_tables(before, snapshot(runtime))
