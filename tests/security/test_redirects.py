"""Open redirects. Every URL a request can store (`return_url`, `success_url`, `cancel_url`, logos,
policies, webhook and campaign links) must be an absolute http(s) URL with a host: found by walking
every request schema of Tenure for fields named `url`/`*_url`, so a new one is checked at once.
The stored URLs are followed only after sign-in or completion, and the dashboard's `next` only
ever leads inside the dashboard.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

import tenure
from tests.checkout.conftest import card_form
from tests.dashboard.conftest import ADMIN
from tests.security.conftest import CANCEL_URL, World, csrf_of

BAD_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/path",
    "/relative/path",
    "evil.example",
    "https://",
    "http:/evil.example",
    "https:evil.example",
    "ftp://evil.example/",
    "\\\\evil.example",
    "https://shop.example/\r\nSet-Cookie: x=1",
]


def tenure_modules() -> Iterator[str]:
    """Every module of the package, folders without `__init__.py` included (pkgutil skips those)."""
    root = Path(tenure.__file__).parent
    for path in sorted(root.rglob("*.py")):
        name = ".".join(("tenure", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        # Entry points build a runtime when imported; migrations and helpers take no requests.
        if not name.startswith(
            ("tenure.migrations", "tenure.testing", "tenure.demo", "tenure.__main__", "tenure.asgi")
        ):
            yield name


def url_fields() -> Iterator[tuple[type[BaseModel], str]]:
    """(schema, field alias) for every URL field of every request schema in `tenure`."""
    for module_name in tenure_modules():
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and not issubclass(value, BaseSettings)
                and value.__module__ == module_name
                and not value.__name__.endswith("List")  # list filters: never stored nor followed
            ):
                for name, field in value.model_fields.items():
                    if name == "url" or name.endswith("_url"):
                        yield value, field.alias or name


def refused(model: type[BaseModel], alias: str, url: str) -> bool:
    try:
        model.model_validate({alias: url})
    except ValidationError as error:
        return any(e["loc"][:1] == (alias,) and e["type"] != "missing" for e in error.errors())
    return False


def test_every_url_field_of_every_request_schema_takes_only_http_urls() -> None:
    fields = sorted(
        {(model.__module__, model.__name__, alias): (model, alias) for model, alias in url_fields()}.items()
    )
    names = {alias for (_, _, alias), _ in fields}
    # The enumeration found the ones the specification names (and a new field joins by itself).
    assert {"return_url", "success_url", "cancel_url", "url", "logo_url", "default_return_url"} <= names, (
        names
    )
    problems = [
        f"{module}.{name}.{alias} accepts {url!r}"
        for (module, name, alias), (model, _) in fields
        for url in BAD_URLS
        if not refused(model, alias, url)
    ]
    assert not problems, "\n".join(problems)
    for (_, _, alias), (model, _) in fields:
        # And a good one passes: the refusals are about the URL, not the field.
        assert not refused(model, alias, "https://shop.example/account?x=1#top"), (model, alias)


API_URL_PARAMS = [
    ("/v1/billing_portal/sessions", "return_url", {}),
    (
        "/v1/billing_portal/sessions",
        "flow_data[after_completion][redirect][return_url]",
        {"flow_data[type]": "payment_method_update", "flow_data[after_completion][type]": "redirect"},
    ),
    ("/v1/billing_portal/configurations", "default_return_url", {}),
    ("/v1/billing_portal/configurations", "business_profile[privacy_policy_url]", {}),
    ("/v1/billing_portal/configurations", "tenure_branding[logo_url]", {}),
    ("/v1/checkout/sessions", "success_url", {"cancel_url": CANCEL_URL}),
    ("/v1/checkout/sessions", "cancel_url", {}),
    ("/v1/webhook_endpoints", "url", {"enabled_events[0]": "*"}),
]


def test_the_api_refuses_them_naming_the_parameter(world: World) -> None:
    base = {
        "/v1/billing_portal/sessions": {"customer": world.victim.customer},
        "/v1/checkout/sessions": {
            "mode": "subscription",
            "line_items[0][price]": world.business.monthly,
            "line_items[0][quantity]": "1",
        },
    }
    for path, param, extra in API_URL_PARAMS:
        for url in ("javascript:alert(1)", "//evil.example", "data:text/html,x"):
            answer = world.api.post(path, data={**base.get(path, {}), **extra, param: url})
            assert answer.status_code == 400, (path, param, url, answer.text)
            assert answer.json()["error"]["param"] == param, (path, answer.text)


def test_the_portal_return_url_is_shown_only_inside_an_opened_session(world: World) -> None:
    back = "https://shop.example/account"
    url = world.portal_url(world.victim.customer, return_url=back)
    stranger = world.client()
    assert back not in stranger.get("/portal").text  # no session: the "expired" page
    opened = stranger.get(url, follow_redirects=False)
    assert opened.headers["location"] == "/portal"  # never straight on to the return URL
    assert f'href="{back}"' in stranger.get("/portal").text
    replay = world.client().get(url)
    assert replay.status_code == 410 and back not in replay.text


def test_a_deep_links_redirect_is_followed_only_once_the_flow_is_done(world: World) -> None:
    after = "https://shop.example/after-cancel"
    subscription = world.victim.subscription
    url = world.portal_url(
        world.victim.customer,
        **{
            "flow_data[type]": "subscription_cancel",
            "flow_data[subscription_cancel][subscription]": subscription,
            "flow_data[after_completion][type]": "redirect",
            "flow_data[after_completion][redirect][return_url]": after,
        },
    )
    browser = world.client()
    landing = browser.get(url, follow_redirects=False).headers["location"]
    assert landing == f"/portal/subscriptions/{subscription}/cancel"
    confirm = browser.get(landing)
    flow = next(part for part in confirm.text.split('name="flow" value="')[1:]).split('"')[0]
    token = csrf_of(confirm.text)
    for step in ("/reason", "/done"):
        early = browser.get(f"{landing}{step}", params={"flow": flow}, follow_redirects=False)
        assert early.headers.get("location", "") != after, step
    browser.post(landing, data={"csrf_token": token, "flow": flow}, follow_redirects=False)
    done = browser.post(
        f"{landing}/reason",
        data={"csrf_token": token, "flow": flow, "reason": "too_expensive", "comment": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == after


def test_checkout_goes_to_success_url_only_once_complete(world: World) -> None:
    browser, path = world.checkout_browser, f"/checkout/{world.checkout}"
    assert browser.get(path, follow_redirects=False).status_code == 200
    early = browser.get(f"{path}/done", follow_redirects=False)
    assert early.headers["location"] == path
    refused = browser.post(
        path, data=card_form(world.checkout_csrf, card_number="4000"), follow_redirects=False
    )
    assert refused.status_code == 400
    done = browser.post(path, data=card_form(world.checkout_csrf), follow_redirects=False)
    assert done.headers["location"] == f"https://shop.example/thanks?session={world.checkout}"


def test_an_expired_checkout_links_back_but_does_not_redirect(world: World) -> None:
    checkout = world.open_checkout()
    world.api.post(f"/v1/checkout/sessions/{checkout}/expire")
    page = world.client().get(f"/checkout/{checkout}", follow_redirects=False)
    assert page.status_code == 410 and "location" not in page.headers
    assert f'href="{CANCEL_URL}"' in page.text


NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "/dashboard//evil.example",
    "/dashboard\\@evil.example",
    "/dashboard\r\nLocation: https://evil.example",
    "javascript:alert(1)",
    "http:evil.example",
    "/dashboard/login?next=https://evil.example",
    "dashboard",
    "/dashboard@evil.example",
]


def _inside_the_dashboard(location: str) -> bool:
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/dashboard")
        and not location.startswith(("//", "/\\"))
        and not any(ch in location for ch in "\\\r\n\t")
    )


def test_next_after_sign_in_stays_inside_the_dashboard(world: World) -> None:
    """The sign-in form keeps `next` only when it is a dashboard path; signed in, the same rule."""
    email, password = ADMIN
    assert world.admin  # the account exists
    for target in NEXT[:3]:
        browser: TestClient = world.client()
        form = browser.get("/dashboard/login", params={"next": target})
        answer = browser.post(
            "/dashboard/login",
            data={"csrf_token": csrf_of(form.text), "email": email, "password": password, "next": target},
            follow_redirects=False,
        )
        assert answer.status_code == 303 and _inside_the_dashboard(answer.headers["location"]), answer.headers
    for target in NEXT:
        form = world.client().get("/dashboard/login", params={"next": target})
        kept = form.text.split('name="next" value="')[1].split('"')[0] if 'name="next"' in form.text else ""
        assert not kept or _inside_the_dashboard(kept), (target, kept)
        again = world.admin.get("/dashboard/login", params={"next": target}, follow_redirects=False)
        assert again.status_code == 303 and _inside_the_dashboard(again.headers["location"]), (
            target,
            again.headers,
        )
