"""The portal's load: creating portal sessions, and the cancel flow's final POST.

Until the portal exists, `prepare()` raises `Unavailable` (the endpoint answers 404) and the
scenario reports `skipped`. Once it exists, the cancel POST is found the way a browser would:
a portal session deep-linked into the cancel flow (`flow_data[type]=subscription_cancel`), its
page fetched with a cookie jar, and the forms followed (a reason is picked, an offer declined)
until the last POST that cancels. That POST is then replayed under load with each session's
cookie and CSRF token, one session (and subscription) per request as far as the pool lasts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from bench.stack import Api

SESSIONS = "POST /v1/billing_portal/sessions"
CANCEL = "portal cancel POST (cookie + CSRF)"
LABELS = (SESSIONS, CANCEL)
MAX_STEPS = 5


class Unavailable(Exception):
    """The portal (or the part of it this scenario needs) is not there yet."""


@dataclass
class Plan:
    # Portal session creation can be repeated: its requests are cycled for a fixed duration.
    sessions: list[dict[str, Any]] = field(default_factory=list)
    # A cancel can happen once: per concurrency, unsent final POSTs for Tenure, for the floor, and
    # a few to warm each up; each is sent exactly once.
    cancels: dict[int, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    radios: dict[str, list[str]]
    submits: list[tuple[str, str, str]]  # (name, value, label)
    text: str


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._button: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower(), {}, {}, [], "")
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input":
            kind, name = a.get("type", "text").lower(), a.get("name", "")
            if not name:
                return
            if kind == "radio":
                self._current.radios.setdefault(name, []).append(a.get("value", "on"))
            elif kind == "submit":
                self._current.submits.append((name, a.get("value", ""), a.get("value", "")))
            elif kind == "checkbox":
                if "checked" in a:
                    self._current.fields[name] = a.get("value", "on")
            else:
                self._current.fields.setdefault(name, a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self._current.fields.setdefault(a["name"], "")
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._button = (a.get("name", ""), a.get("value", ""))
            self._current.submits.append((*self._button, ""))

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.text += data
            if self._button is not None and self._current.submits:
                name, value, label = self._current.submits[-1]
                self._current.submits[-1] = (name, value, label + data.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "button":
            self._button = None


def _post_forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return [form for form in parser.forms if form.method == "post"]


_CANCEL_WORDS = re.compile(r"cancel", re.IGNORECASE)
_KEEP_WORDS = re.compile(r"keep|accept|offer|stay|back|don.t cancel|never ?mind", re.IGNORECASE)


def _pick(forms: list[Form]) -> tuple[Form, dict[str, str]] | None:
    """The form (and submit button) that moves toward cancelling, declining any offer."""
    for form in forms:
        wanted = [
            s for s in form.submits if _CANCEL_WORDS.search(s[2] or s[1]) and not _KEEP_WORDS.search(s[2])
        ]
        if wanted or _CANCEL_WORDS.search(form.action):
            body = dict(form.fields)
            for name, values in form.radios.items():
                body[name] = values[0]
            if wanted and wanted[0][0]:
                body[wanted[0][0]] = wanted[0][1]
            return form, body
    return None


def prepare(
    api: Api,
    base_url: str,
    *,
    customers: list[str],
    price: str,
    secret: str,
    per_level: dict[int, int],
    warmup: int = 4,
) -> Plan:
    """The requests for both portal endpoints, or `Unavailable` with the reason."""
    probe = api.client.post("/v1/billing_portal/sessions", data={"customer": customers[0]})
    if probe.status_code == 404:
        raise Unavailable("endpoint not available (POST /v1/billing_portal/sessions answered 404)")
    if probe.status_code >= 400:
        raise Unavailable(
            f"POST /v1/billing_portal/sessions answered {probe.status_code}: {probe.text[:200]}"
        )
    auth = {"Authorization": f"Bearer {secret}"}
    plan = Plan()
    plan.sessions = [
        {
            "method": "POST",
            "path": "/v1/billing_portal/sessions",
            "headers": auth,
            "body": urlencode({"customer": customer, "return_url": "http://127.0.0.1/return"}),
        }
        for customer in customers
    ]
    try:
        steps = _walk(base_url, _deep_link(api, customers[0], price), stop_before=None)[0]
        for concurrency, count in per_level.items():
            sizes = {"tenure": count, "floor": count, "warmup_tenure": warmup, "warmup_floor": warmup}
            plan.cancels[concurrency] = {
                name: _final_posts(api, base_url, customers=customers, price=price, steps=steps, count=size)
                for name, size in sizes.items()
            }
    except Unavailable:
        raise
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise Unavailable(f"could not walk the cancel flow: {type(exc).__name__}: {exc}") from None
    return plan


def _deep_link(api: Api, customer: str, price: str) -> str:
    """A new subscription and a portal session deep-linked into its cancel flow; returns its URL."""
    subscription = api.post("/v1/subscriptions", {"customer": customer, "items[0][price]": price})
    session = api.post(
        "/v1/billing_portal/sessions",
        {
            "customer": customer,
            "return_url": "http://127.0.0.1/return",
            "flow_data[type]": "subscription_cancel",
            "flow_data[subscription_cancel][subscription]": str(subscription["id"]),
        },
    )
    return str(session["url"])


def _final_posts(
    api: Api, base_url: str, *, customers: list[str], price: str, steps: int, count: int
) -> list[dict[str, Any]]:
    """`count` cancel flows walked up to their last POST (a scout walked the whole flow once to learn
    how many POSTs that is), prepared by a few threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> dict[str, Any]:
        url = _deep_link(api, customers[index % len(customers)], price)
        return _walk(base_url, url, stop_before=steps)[1]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def _walk(base_url: str, session_url: str, *, stop_before: int | None) -> tuple[int, dict[str, Any]]:
    """Follow a session's cancel flow like a browser: submit each step's form (a reason picked,
    offers declined). With `stop_before=N`, return the N-th POST unsent, ready to replay."""
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as browser:
        page = browser.get(_local(session_url))
        if page.status_code >= 400:
            raise Unavailable(f"the portal session page answered {page.status_code}")
        for step in range(1, MAX_STEPS + 1):
            picked = _pick(_post_forms(page.text))
            if picked is None:
                if step == 1:
                    raise Unavailable("the portal page has no cancel form to submit")
                return step - 1, {}
            form, body = picked
            url = urljoin(str(page.url), form.action or str(page.url))
            if stop_before == step:
                cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
                return step, {
                    "method": "POST",
                    "path": _local(url),
                    "headers": {"Cookie": cookie},
                    "body": urlencode(body),
                }
            page = browser.post(_local(url), data=body)
            if page.status_code >= 400:
                raise Unavailable(f"step {step} of the cancel flow answered {page.status_code}")
    raise Unavailable(f"the cancel flow did not end within {MAX_STEPS} steps")


def _local(url: str) -> str:
    """The portal may build absolute URLs from TENURE_BASE_URL: keep only the path for our server."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") if parts.netloc else url
