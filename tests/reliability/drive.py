"""Cancellations as users make them, over HTTP: the portal's cancel flow (session URL, cookie, CSRF
token, the reason form) and the API. Works with a TestClient or an httpx client on a real server;
shared by the reliability tests and the soak."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from bench.procs import bench_env

REASONS = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)
_HIDDEN = re.compile(r'<input type="hidden" name="(csrf_token|flow)" value="([^"]*)"')


class FlowBroken(AssertionError):
    """A step of the portal flow answered something a browser could not go on from."""

    def __init__(self, step: str, response: httpx.Response) -> None:
        super().__init__(f"{step} answered {response.status_code}: {response.text[:200]}")
        self.step, self.status_code = step, response.status_code


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        request = response.request
        raise AssertionError(
            f"{request.method} {request.url} answered {response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Shop:
    """A product and a monthly price, made through the API with `api` (which carries the key)."""

    api: httpx.Client
    price: str = ""  # given: use this price rather than making a new one

    def __post_init__(self) -> None:
        if self.price:
            return
        product = _ok(self.api.post("/v1/products", data={"name": "Reliability plan"}))
        self.price = _ok(
            self.api.post(
                "/v1/prices",
                data={
                    "product": product["id"],
                    "unit_amount": "1900",
                    "currency": "eur",
                    "recurring[interval]": "month",
                },
            )
        )["id"]

    def customer(self, index: int) -> str:
        return str(
            _ok(
                self.api.post(
                    "/v1/customers",
                    data={
                        "email": f"subscriber{index}@example.com",
                        "name": f"Subscriber {index}",
                        "payment_method": "pm_card_visa",
                        "invoice_settings[default_payment_method]": "pm_card_visa",
                    },
                )
            )["id"]
        )

    def subscribe(self, customer: str) -> str:
        body = _ok(
            self.api.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": self.price})
        )
        return str(body["id"])


def portal_cancel(
    api: httpx.Client, browser: httpx.Client, *, customer: str, subscription: str, reason: str, comment: str
) -> httpx.Response:
    """Walk the deep-linked cancel flow like a browser (`browser` holds only this visit's cookie) and
    return the answer to the last POST, the one that cancels: a 303 acknowledges the cancellation."""
    created = api.post(
        "/v1/billing_portal/sessions",
        data={
            "customer": customer,
            "flow_data[type]": "subscription_cancel",
            "flow_data[subscription_cancel][subscription]": subscription,
        },
    )
    if created.status_code != 200:
        raise FlowBroken("creating the portal session", created)
    opened = browser.get(_path(created.json()["url"]))
    if opened.status_code != 303:
        raise FlowBroken("opening the session", opened)
    confirm = browser.get(_path(opened.headers["location"]))
    fields = dict(_HIDDEN.findall(confirm.text))
    if confirm.status_code != 200 or set(fields) != {"csrf_token", "flow"}:
        raise FlowBroken("the cancel page", confirm)
    base = f"/portal/subscriptions/{subscription}/cancel"
    step = browser.post(base, data=fields)
    if step.status_code != 303:
        raise FlowBroken("confirming", step)
    page = browser.get(_path(step.headers["location"]))
    if page.status_code != 200:
        raise FlowBroken("the reason page", page)
    return browser.post(f"{base}/reason", data={**fields, "reason": reason, "comment": comment})


def api_cancel(
    api: httpx.Client, *, subscription: str, reason: str, comment: str, immediately: bool
) -> httpx.Response:
    """Cancel with a reason through the API: now (DELETE) or at period end (update)."""
    details = {"cancellation_details[feedback]": reason, "cancellation_details[comment]": comment}
    if immediately:
        # Stripe's SDKs send a DELETE's parameters in the query string.
        return api.delete(f"/v1/subscriptions/{subscription}", params=details)
    return api.post(f"/v1/subscriptions/{subscription}", data={"cancel_at_period_end": "true", **details})


def tenure_env(
    database_url: str, data_dir: Path, *, secret: str = "test-secret", **extra: str
) -> dict[str, str]:
    """The environment of a `tenure` process on this store: none of ours, no proxies (loopback only).

    Webhooks may go to private addresses: the receivers are on loopback.
    """
    env = {k: v for k, v in bench_env().items() if not k.startswith("TENURE_")}
    env.update(
        TENURE_DATABASE_URL=database_url,
        TENURE_DATA_DIR=str(data_dir),
        TENURE_SECRET_KEY=secret,
        TENURE_WEBHOOK_ALLOW_PRIVATE="true",
    )
    env.update(extra)
    return env


def tenure(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The `tenure` command as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tenure", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tenure_inline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The same command run in this process (quicker, for the answers that need no real process)."""
    from typer.testing import CliRunner

    from tenure.cli import app

    given = {key: value for key, value in env.items() if key.startswith("TENURE_")}
    result = CliRunner().invoke(app, list(args), env=given)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)
