"""Portal visits over real HTTP (a uvicorn server on loopback), one cookie jar per portal session, so
that several sessions of one customer can race on one subscription from real threads."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from tenure.retention.models import CancellationFlow
from tenure.runtime import Runtime

HIDDEN = re.compile(r'<input type="hidden" name="(csrf_token|flow)" value="([^"]*)"')
T = TypeVar("T")


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (
        f"{response.request.url} answered {response.status_code}: {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def api(live_server: str, secret_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {secret_key}"}) as client:
        yield client


@dataclass
class Business:
    """A 20 € monthly price, and customers subscribed to it, made through the API."""

    api: httpx.Client
    price: str = ""

    def __post_init__(self) -> None:
        product = ok(self.api.post("/v1/products", data={"name": "Studio"}))["id"]
        self.price = ok(
            self.api.post(
                "/v1/prices",
                data={
                    "product": product,
                    "unit_amount": "2000",
                    "currency": "eur",
                    "recurring[interval]": "month",
                },
            )
        )["id"]

    def subscriber(self, *, locale: str = "en") -> tuple[str, str]:
        """A new customer with a card, subscribed: (customer, subscription)."""
        customer = ok(
            self.api.post(
                "/v1/customers",
                data={
                    "email": "ada@example.com",
                    "preferred_locales[0]": locale,
                    "payment_method": "pm_card_visa",
                    "invoice_settings[default_payment_method]": "pm_card_visa",
                },
            )
        )["id"]
        subscription = ok(
            self.api.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": self.price})
        )["id"]
        return customer, subscription

    def retention_coupon(self, percent_off: int = 50) -> str:
        """A portal configuration offering a coupon to every customer about to cancel."""
        coupon = ok(
            self.api.post("/v1/coupons", data={"percent_off": str(percent_off), "duration": "forever"})
        )
        return str(
            ok(
                self.api.post(
                    "/v1/billing_portal/configurations", data={"tenure_retention[coupon]": coupon["id"]}
                )
            )["id"]
        )

    def subscription(self, subscription: str) -> dict[str, Any]:
        return ok(self.api.get(f"/v1/subscriptions/{subscription}", params={"expand[]": "discounts"}))

    def updated_events(self, subscription: str) -> list[dict[str, Any]]:
        events = ok(
            self.api.get("/v1/events", params={"type": "customer.subscription.updated", "limit": 100})
        )
        return [e for e in events["data"] if e["data"]["object"]["id"] == subscription]

    def retention_funnel(self) -> dict[str, Any]:
        """The insights report's retention figures over the day around now."""
        report = ok(self.api.get("/v1/insights/cancellations", params={"interval": "week"}))
        funnel: dict[str, Any] = report["retention"]
        return funnel


@pytest.fixture
def business(api: httpx.Client) -> Business:
    return Business(api)


@dataclass
class Tab:
    """One portal session (its own cookie, like a second browser or an email link) on the cancel flow
    of one subscription: the flow it started and the CSRF token of its pages."""

    server: str
    subscription: str
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    flow: str = ""

    @classmethod
    def open(
        cls,
        api: httpx.Client,
        server: str,
        *,
        customer: str,
        subscription: str,
        configuration: str | None = None,
    ) -> Tab:
        data = {"customer": customer, **({"configuration": configuration} if configuration else {})}
        url = ok(api.post("/v1/billing_portal/sessions", data=data))["url"]
        tab = cls(server=server, subscription=subscription)
        with httpx.Client(base_url=server, follow_redirects=False) as browser:
            assert browser.get(url).status_code == 303  # opens the session: sets the cookie
            confirm = browser.get(tab.base)
            assert confirm.status_code == 200, confirm.text
            fields = dict(HIDDEN.findall(confirm.text))
            tab.cookies = dict(browser.cookies.items())
        tab.csrf, tab.flow = fields["csrf_token"], fields["flow"]
        return tab

    @property
    def base(self) -> str:
        return f"/portal/subscriptions/{self.subscription}/cancel"

    def post(self, step: str, **data: str) -> httpx.Response:
        """POST one step of the flow (`""`, `/reason`, `/offer`) with this tab's flow and token."""
        with httpx.Client(base_url=self.server, cookies=self.cookies, follow_redirects=False) as browser:
            return browser.post(self.base + step, data={"csrf_token": self.csrf, "flow": self.flow, **data})

    def get(self, path: str) -> httpx.Response:
        with httpx.Client(base_url=self.server, cookies=self.cookies, follow_redirects=False) as browser:
            return browser.get(path)


def simultaneously(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls from as many threads, released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def flows_of(runtime: Runtime, subscription: str) -> dict[str, CancellationFlow]:
    with runtime.sessionmaker() as session:
        found = session.scalars(
            select(CancellationFlow).where(CancellationFlow.subscription_id == subscription)
        ).all()
        session.expunge_all()
        return {flow.id: flow for flow in found}
