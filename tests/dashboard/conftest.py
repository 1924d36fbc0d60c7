"""Dashboard fixtures: staff accounts, signed-in clients, and a small business made through the API.

The browser fixtures (Debian's Chromium driven by Playwright) are the portal pages' own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tenure.runtime import Runtime
from tenure.staff.models import StaffRole
from tenure.staff.service import create_staff
from tests.portal_pages.conftest import (  # noqa: F401  (fixtures)
    Shop,
    sdk,
    shop,
)

ADMIN = ("admin@example.com", "correct horse battery")
ANALYST = ("analyst@example.com", "numbers all day")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str, *, next_path: str = "") -> Response:
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    data = {"csrf_token": csrf_of(form.text), "email": email, "password": password}
    if next_path:
        data["next"] = next_path
    return client.post("/dashboard/login", data=data, follow_redirects=False)


@pytest.fixture
def staff(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        now = runtime.clock.now()
        create_staff(session, email=ADMIN[0], password=ADMIN[1], role=StaffRole.ADMIN, now=now)
        create_staff(session, email=ANALYST[0], password=ANALYST[1], role=StaffRole.ANALYST, now=now)
        session.commit()


def _signed_in(app: FastAPI, credentials: tuple[str, str]) -> Iterator[TestClient]:
    with TestClient(app) as browser_like:
        answer = sign_in(browser_like, *credentials)
        assert answer.status_code == 303, answer.text
        yield browser_like


@pytest.fixture
def admin(app: FastAPI, staff: None) -> Iterator[TestClient]:
    yield from _signed_in(app, ADMIN)


@pytest.fixture
def analyst(app: FastAPI, staff: None) -> Iterator[TestClient]:
    yield from _signed_in(app, ANALYST)


def page_csrf(client: TestClient, path: str = "/dashboard") -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)


class Business:
    """Products, customers and subscriptions made through the API (the `client` fixture)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        product = self.post("/v1/products", name="Studio")
        self.monthly = self.post(
            "/v1/prices",
            product=product["id"],
            unit_amount="2000",
            currency="eur",
            **{"recurring[interval]": "month"},
        )["id"]
        self.yearly = self.post(
            "/v1/prices",
            product=product["id"],
            unit_amount="24000",
            currency="eur",
            nickname="Yearly",
            **{"recurring[interval]": "year"},
        )["id"]

    def post(self, path: str, **data: Any) -> dict[str, Any]:
        answer = self.client.post(path, data=data)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def customer(self, *, email: str = "ada@example.com", name: str = "Ada Lovelace") -> str:
        return str(
            self.post(
                "/v1/customers",
                email=email,
                name=name,
                payment_method="pm_card_visa",
                **{"invoice_settings[default_payment_method]": "pm_card_visa"},
            )["id"]
        )

    def subscribe(self, customer: str, *, price: str | None = None, **extra: Any) -> str:
        return str(
            self.post(
                "/v1/subscriptions", customer=customer, **{"items[0][price]": price or self.monthly}, **extra
            )["id"]
        )

    def cancel(self, subscription: str, *, feedback: str | None = None, comment: str | None = None) -> None:
        data = {}
        if feedback:
            data["cancellation_details[feedback]"] = feedback
        if comment:
            data["cancellation_details[comment]"] = comment
        answer = self.client.delete(f"/v1/subscriptions/{subscription}", params=data)
        assert answer.status_code == 200, answer.text

    def schedule_cancel(self, subscription: str, *, feedback: str | None = None) -> None:
        data = {"cancel_at_period_end": "true"}
        if feedback:
            data["cancellation_details[feedback]"] = feedback
        self.post(f"/v1/subscriptions/{subscription}", **data)


@pytest.fixture
def business(client: TestClient) -> Business:
    return Business(client)


FLOW = re.compile(r'name="flow" value="([^"]+)"')


def portal_cancel(
    business: Business,
    customer: str,
    subscription: str,
    *,
    reason: str | None = None,
    comment: str = "",
    answer_offer: str | None = None,
) -> str:
    """A customer cancels in the portal (real pages, through a portal session made with the API);
    returns the page reached at the end."""
    url = business.post("/v1/billing_portal/sessions", customer=customer)["url"]
    with TestClient(business.client.app) as customer_browser:
        customer_browser.get(url[url.index("/portal/") :])
        base = f"/portal/subscriptions/{subscription}/cancel"
        confirm = customer_browser.get(base)
        assert confirm.status_code == 200, confirm.text
        flow = FLOW.search(confirm.text)
        assert flow
        token = csrf_of(confirm.text)
        customer_browser.post(base, data={"csrf_token": token, "flow": flow.group(1)})
        data = {"csrf_token": token, "flow": flow.group(1), "comment": comment}
        if reason:
            data["reason"] = reason
        done = customer_browser.post(base + "/reason", data=data)
        assert done.status_code == 200, done.text
        if answer_offer is not None:
            done = customer_browser.post(
                base + "/offer", data={"csrf_token": token, "flow": flow.group(1), "answer": answer_offer}
            )
            assert done.status_code == 200, done.text
        return done.text


class _FormReader(HTMLParser):
    """What a browser would submit for one form (inputs, checked boxes, selects, textareas)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._option_value: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form" and attr.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = attr.get("name")
        if tag == "input" and name and attr.get("type", "text") not in ("submit", "button"):
            if attr.get("type") in ("checkbox", "radio"):
                if "checked" in attr:
                    self.fields.append((name, attr.get("value", "on")))
            else:
                self.fields.append((name, attr.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._first_option = name, None, None
        elif tag == "option" and self._select is not None:
            value = attr.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in attr:
                self._select_value = value
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self.inside:
            return
        if tag == "select" and self._select is not None:
            chosen = self._select_value if self._select_value is not None else self._first_option
            self.fields.append((self._select, chosen or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str) -> list[tuple[str, str]]:
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.fields, f"no form #{form_id}"
    return reader.fields


def changed(
    fields: list[tuple[str, str]], values: dict[str, str | list[str] | None]
) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in fields if k not in values]
    for name, value in values.items():
        if value is None:
            continue
        for item in [value] if isinstance(value, str) else value:
            kept.append((name, item))
    return kept


def as_data(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data
