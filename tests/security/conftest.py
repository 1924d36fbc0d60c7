"""The security matrix's world, and the app's browser-facing routes enumerated from `app.routes`.

The world is one business with two customers, a victim and an attacker, each with an object of
every kind a customer reaches in the portal (subscription, payment methods, invoice, cancellation
flow) and a browser holding an open portal session; plus a signed-in admin, an open checkout, and
the links Tenure emails (sign-in, unsubscribe, portal). Tests walk the routes the app really has,
so a new page or form is in the matrix the day it is added, and a path parameter the matrix cannot
fill fails with a message saying where to add it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.clock import FrozenClock
from tenure.config import Settings
from tenure.keys.service import create_key
from tenure.models import Base
from tenure.notifications.links import PortalLink, portal_link_token, unsubscribe_token
from tenure.notifications.models import OutboxMessage
from tenure.portal.login_links import PortalLoginLink, link_token
from tenure.runtime import Runtime
from tenure.staff.models import StaffRole
from tenure.staff.service import create_staff
from tests.dashboard.conftest import ADMIN, ANALYST, Business, csrf_of, sign_in

# Where browsers go; everything else is the JSON API (`/v1`), health, OpenAPI or static files.
BROWSER_PREFIXES = ("/portal", "/checkout", "/email/", "/dashboard")
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
FLOW = re.compile(r'name="flow" value="([^"]+)"')
SUCCESS_URL = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.example/pricing"
CARD = {"type": "card", "card[number]": "5555555555554444", "card[exp_month]": "12", "card[exp_year]": "2034"}


@pytest.fixture
def clock() -> FrozenClock:
    """Real time, moved by the tests that need a link or a session to expire."""
    return FrozenClock(int(time.time()))


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    built = Runtime.build(settings, clock=clock)
    yield built
    built.close()


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, e.g. /portal/subscriptions/{subscription_id}/cancel

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def app_routes(app: FastAPI) -> list[Route]:
    """Every (method, path) the app answers, mounts aside; HEAD is GET's shadow."""
    found = []
    for context in iter_route_contexts(app.routes):
        if not context.path or not context.methods:
            continue
        found.extend(Route(method, context.path) for method in sorted(context.methods) if method != "HEAD")
    return found


def browser_routes(app: FastAPI, method: str) -> list[Route]:
    return [r for r in app_routes(app) if r.method == method and r.path.startswith(BROWSER_PREFIXES)]


def fill(path: str, values: Mapping[str, str]) -> str:
    """The path with real objects in its parameters; an unknown parameter fails the test, by name."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(
                f"{path}: the security matrix has no object for {{{name}}}: add one to World.values() "
                "in tests/security/conftest.py"
            )
        return values[name]

    return _PARAM.sub(one, path)


def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what a refused request must leave exactly as it was. The rate-limit
    buckets aside: every request spends a token of its key's (on PostgreSQL, a row), refused or not."""
    with runtime.sessionmaker() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name != "rate_limit_buckets"
        }


def changed_tables(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


@dataclass
class Account:
    """One customer and what they can reach in the portal, with a browser inside it."""

    customer: str
    email: str
    name: str
    subscription: str
    payment_method: str  # a second card, not the default
    invoice: str
    invoice_number: str
    flow: str  # a cancellation flow started in the portal
    browser: TestClient
    csrf: str  # the portal session's token


class World:
    def __init__(self, app: FastAPI, runtime: Runtime, business: Business) -> None:
        self.app = app
        self.runtime = runtime
        self.business = business
        self.api = business.client
        self.secret = runtime.settings.resolved_secret_key()
        self._clients: list[TestClient] = []
        self.product = self.api.get(f"/v1/prices/{business.monthly}").json()["product"]
        self.configuration = business.post(
            "/v1/billing_portal/configurations",
            **{
                "features[customer_update][enabled]": "true",
                "features[customer_update][allowed_updates][0]": "name",
                "features[customer_update][allowed_updates][1]": "email",
                "features[customer_update][allowed_updates][2]": "phone",
                "features[customer_update][allowed_updates][3]": "address",
                "features[payment_method_update][enabled]": "true",
                "features[invoice_history][enabled]": "true",
                "features[subscription_update][enabled]": "true",
                "features[subscription_update][default_allowed_updates][0]": "price",
                "features[subscription_update][products][0][product]": self.product,
                "features[subscription_update][products][0][prices][0]": business.monthly,
                "features[subscription_update][products][0][prices][1]": business.yearly,
                "login_page[enabled]": "true",
            },
        )["id"]
        self.victim = self.account("victim@example.com", "Victor Victim")
        self.attacker = self.account("mallory@example.com", "Mallory Attacker")
        self.coupon = business.post("/v1/coupons", percent_off="10", duration="once", name="Ten")["id"]
        self.promotion_code = business.post("/v1/promotion_codes", coupon=self.coupon, code="TEN")["id"]
        self.endpoint = business.post(
            "/v1/webhook_endpoints", url="https://hooks.example/tenure", **{"enabled_events[0]": "*"}
        )["id"]
        with runtime.sessionmaker() as session:
            key, _ = create_key(session, now=runtime.clock.now(), name="matrix")
            session.commit()
            self.key = key.id
        self.checkout = self.open_checkout()
        self.checkout_browser = self.client()
        self.checkout_csrf = csrf_of(self.checkout_browser.get(f"/checkout/{self.checkout}").text)
        self.sign_in_token = self.login_link(self.victim)
        with runtime.sessionmaker() as session:
            self.message = session.scalars(select(OutboxMessage.id)).first() or "emsg_none"

    @cached_property
    def admin(self) -> TestClient:
        """A signed-in admin (made on first use: argon2 is slow on purpose)."""
        return self.staff(*ADMIN, role=StaffRole.ADMIN)

    @cached_property
    def analyst(self) -> TestClient:
        return self.staff(*ANALYST, role=StaffRole.ANALYST)

    def staff(self, email: str, password: str, *, role: StaffRole) -> TestClient:
        with self.runtime.sessionmaker() as session:
            create_staff(session, email=email, password=password, role=role, now=self.runtime.clock.now())
            session.commit()
        browser = self.client()
        answer = sign_in(browser, email, password)
        assert answer.status_code == 303, answer.text
        return browser

    def client(self) -> TestClient:
        """A new browser (its own cookie jar), closed with the world."""
        browser = TestClient(self.app)
        browser.__enter__()
        self._clients.append(browser)
        return browser

    def close(self) -> None:
        for browser in self._clients:
            browser.__exit__(None, None, None)

    def account(self, email: str, name: str) -> Account:
        business = self.business
        customer = business.customer(email=email, name=name)
        subscription = business.post(
            "/v1/subscriptions", customer=customer, **{"items[0][price]": business.monthly}
        )
        card = business.post("/v1/payment_methods", **CARD)["id"]
        business.post(f"/v1/payment_methods/{card}/attach", customer=customer)
        invoice = self.api.get(f"/v1/invoices/{subscription['latest_invoice']}").json()
        browser = self.portal(customer)
        confirm = browser.get(f"/portal/subscriptions/{subscription['id']}/cancel")
        assert confirm.status_code == 200, confirm.text
        flow = FLOW.search(confirm.text)
        assert flow, "the cancel page starts a flow"
        return Account(
            customer=customer,
            email=email,
            name=name,
            subscription=subscription["id"],
            payment_method=card,
            invoice=invoice["id"],
            invoice_number=invoice["number"],
            flow=flow.group(1),
            browser=browser,
            csrf=csrf_of(confirm.text),
        )

    def portal_url(self, customer: str, **extra: str) -> str:
        """A portal session URL's path (`/portal/session/<secret>`), made through the API."""
        url: str = self.business.post(
            "/v1/billing_portal/sessions", customer=customer, configuration=self.configuration, **extra
        )["url"]
        return url[url.index("/portal/") :]

    def portal(self, customer: str) -> TestClient:
        browser = self.client()
        opened = browser.get(self.portal_url(customer), follow_redirects=False)
        assert opened.status_code == 303, opened.text
        return browser

    def open_checkout(self, **extra: str) -> str:
        return str(
            self.business.post(
                "/v1/checkout/sessions",
                mode="subscription",
                success_url=SUCCESS_URL,
                cancel_url=CANCEL_URL,
                **{"line_items[0][price]": self.business.monthly, "line_items[0][quantity]": "1"},
                **extra,
            )["id"]
        )

    def login_link(self, account: Account) -> str:
        """A sign-in link's token, asked for on the hosted login page as a customer would."""
        browser = self.client()
        form = browser.get(f"/portal/login/{self.configuration}")
        asked = browser.post(
            f"/portal/login/{self.configuration}",
            data={"csrf_token": csrf_of(form.text), "email": account.email},
        )
        assert asked.status_code == 200, asked.text
        with self.runtime.sessionmaker() as session:
            link = session.scalars(
                select(PortalLoginLink)
                .where(PortalLoginLink.customer_id == account.customer)
                .order_by(PortalLoginLink.pk.desc())
            ).first()
            assert link is not None
            return link_token(self.secret, link.id)

    def email_link(self, account: Account) -> str:
        expires = self.runtime.clock.now() + 3600
        return portal_link_token(
            self.secret, PortalLink(customer=account.customer, flow=None, expires_at=expires)
        )

    def values(self, path: str, owner: Account) -> dict[str, str]:
        """What fills each path parameter of `path`, with `owner`'s objects where objects are owned."""
        token = self.sign_in_token
        if path.startswith("/email/unsubscribe"):
            token = unsubscribe_token(self.secret, owner.customer)
        elif path.startswith("/portal/email-link"):
            token = self.email_link(owner)
        return {
            "subscription_id": owner.subscription,
            "payment_method_id": owner.payment_method,
            "customer_id": owner.customer,
            "configuration_id": self.configuration,
            "checkout_id": self.checkout,
            "coupon_id": self.coupon,
            "code_id": self.promotion_code,
            "endpoint_id": self.endpoint,
            "key_id": self.key,
            "message_id": self.message,
            "token": token,
            "secret": self.portal_url(owner.customer).rsplit("/", 1)[1] if "{secret}" in path else "",
            "path": "no-such-page",
        }

    def browser_for(self, path: str, owner: Account) -> TestClient:
        """The browser that may use `path`: signed in, holding the session or the page's cookie."""
        if path.startswith("/dashboard/login"):
            browser = self.client()
            browser.get("/dashboard/login")
            return browser
        if path.startswith("/dashboard"):
            return self.admin
        if path.startswith(("/portal/login", "/portal/sign-in")):
            browser = self.client()
            browser.get(fill(path, self.values(path, owner)))
            return browser
        if path.startswith(("/portal/session", "/portal/email-link", "/email/")):
            return self.client()
        if path.startswith("/portal"):
            return owner.browser
        if path.startswith("/checkout"):
            return self.checkout_browser
        pytest.fail(f"{path}: the security matrix does not know which browser uses it (World.browser_for)")


@pytest.fixture
def world(app: FastAPI, runtime: Runtime, client: TestClient) -> Iterator[World]:
    built = World(app, runtime, Business(client))
    yield built
    built.close()
