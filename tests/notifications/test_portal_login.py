"""The portal's hosted login page: the same answer for known and unknown addresses, a working one-time
sign-in link by email, and rate limits per IP address and per email address."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tenure.clock import FrozenClock
from tenure.portal.login_links import EMAIL_LIMIT, IP_LIMIT, LINK_SECONDS
from tenure.runtime import Runtime
from tests.notifications.conftest import BASE_URL, Mailbox, Shop, links, part, work
from tests.subscriptions.conftest import ok

CONFIGURATIONS = "/v1/billing_portal/configurations"


def login_page(client: TestClient) -> str:
    configuration = ok(
        client.post(CONFIGURATIONS, data={"login_page[enabled]": "true", "tenure_branding[name]": "Acme"})
    )
    assert configuration["login_page"] == {
        "enabled": True,
        "url": f"{BASE_URL}/portal/login/{configuration['id']}",
    }
    return str(configuration["login_page"]["url"]).removeprefix(BASE_URL)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found[1]


def ask(client: TestClient, path: str, email: str) -> tuple[int, str]:
    form = client.get(path)
    assert form.status_code == 200
    answer = client.post(path, data={"email": email, "csrf_token": csrf_of(form.text)})
    return answer.status_code, answer.text.replace(email, "EMAIL")


def test_same_answer_for_known_and_unknown_and_a_working_link(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient, anonymous_client: TestClient
) -> None:
    customer = shop.customer(email="Known@Example.com", preferred_locales=["de"])
    subscription = shop.subscribe(customer)
    path = login_page(client)
    visitor = anonymous_client
    known = ask(visitor, path, "known@example.com")
    unknown = ask(visitor, path, "nobody@example.com")
    assert known == unknown
    assert known[0] == 200 and "EMAIL" in known[1]
    work(runtime)
    [message] = smtp.messages
    assert message["To"] == "Known@Example.com"
    assert message["Subject"] == "Ihr Anmeldelink für Acme"
    [sign_in] = [link for link in links(part(message, "plain")) if link.startswith("/portal/sign-in/")]
    assert sign_in in part(message, "html")
    # The API never shows a sign-in email's body.
    listed = ok(client.get("/v1/email_messages", params={"kind": "portal_login"}))["data"][0]
    assert ok(client.get(f"/v1/email_messages/{listed['id']}"))["text"] is None

    # Opening the link changes nothing (a mail scanner may fetch it); the button signs in, once.
    confirm = visitor.get(sign_in)
    assert confirm.status_code == 200
    signed = visitor.post(sign_in, data={"csrf_token": csrf_of(confirm.text)}, follow_redirects=False)
    assert signed.status_code == 303
    assert re.fullmatch(rf"{BASE_URL}/portal/session/[\w-]{{43}}", signed.headers["location"])
    home = visitor.get(signed.headers["location"].removeprefix(BASE_URL))
    assert home.status_code == 200 and subscription in home.text
    assert visitor.get(sign_in).status_code == 410
    assert visitor.post(sign_in, data={"csrf_token": csrf_of(confirm.text)}).status_code == 410


def test_links_expire_forms_need_their_token_and_the_page_needs_enabling(
    shop: Shop,
    smtp: Mailbox,
    runtime: Runtime,
    clock: FrozenClock,
    client: TestClient,
    anonymous_client: TestClient,
) -> None:
    shop.customer(email="late@example.com")
    path = login_page(client)
    assert ask(anonymous_client, path, "late@example.com")[0] == 200
    work(runtime)
    [sign_in] = [link for link in links(part(smtp.messages[0], "plain")) if "/sign-in/" in link]
    clock.advance(LINK_SECONDS + 1)
    assert anonymous_client.get(sign_in).status_code == 410
    assert (
        anonymous_client.post(path, data={"email": "late@example.com", "csrf_token": "forged"}).status_code
        == 403
    )
    invalid = anonymous_client.post(
        path, data={"email": "not an email", "csrf_token": csrf_of(anonymous_client.get(path).text)}
    )
    assert invalid.status_code == 400 and 'aria-invalid="true"' in invalid.text
    disabled = ok(client.post(CONFIGURATIONS, data={"name": "no login"}))
    assert disabled["login_page"] == {"enabled": False, "url": None}
    assert anonymous_client.get(f"/portal/login/{disabled['id']}").status_code == 404
    assert anonymous_client.get("/portal/login/bpc_unknown").status_code == 404


def test_rate_limits_per_email_and_per_ip(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient, anonymous_client: TestClient
) -> None:
    shop.customer(email="many@example.com")
    path = login_page(client)
    answers = [ask(anonymous_client, path, "many@example.com")[0] for _ in range(EMAIL_LIMIT + 1)]
    assert answers == [200] * EMAIL_LIMIT + [429]
    # An unknown address is limited the same way: the limit reveals nothing either.
    assert [ask(anonymous_client, path, "ghost@example.com")[0] for _ in range(EMAIL_LIMIT + 1)][-1] == 429
    work(runtime)
    assert len(smtp.to("many@example.com")) == EMAIL_LIMIT
    # Per IP: other addresses from the same client are refused once the IP's budget is spent.
    used = 2 * (EMAIL_LIMIT + 1)
    statuses = [ask(anonymous_client, path, f"other{n}@example.com")[0] for n in range(IP_LIMIT - used + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
