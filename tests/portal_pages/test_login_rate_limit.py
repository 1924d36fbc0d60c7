"""The portal login page's per-address rate limit (`TENURE_RATE_LIMIT_SIGNIN` per minute): a localized
429 page, the same whether the address has an account or not, and no email queued."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.notifications.models import OutboxMessage
from tenure.runtime import Runtime
from tests.api.test_rate_limits import FakeMonotonic, limiters_on

TEXTS = {
    "en": "For your security, please wait a while before asking for another sign-in link.",
    "fr": "Pour votre sécurité, veuillez patienter un moment avant de demander un nouveau lien de connexion.",
    "de": "Zu Ihrer Sicherheit warten Sie bitte eine Weile, bevor Sie einen neuen Anmeldelink anfordern.",
    "id": "Demi keamanan Anda, harap tunggu sebentar sebelum meminta tautan masuk lagi.",
}


def login_path(client: TestClient) -> str:
    answer = client.post("/v1/billing_portal/configurations", data={"login_page[enabled]": "true"})
    assert answer.status_code == 200, answer.text
    return f"/portal/login/{answer.json()['id']}"


def ask(visitor: TestClient, path: str, email: str) -> tuple[int, str, str | None]:
    form = visitor.get(path)
    assert form.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = visitor.post(path, data={"email": email, "csrf_token": token[1]})
    return answer.status_code, answer.text.replace(token[1], "TOKEN"), answer.headers.get("retry-after")


def emails(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


@pytest.mark.parametrize("locale", sorted(TEXTS))
def test_login_link_requests_are_limited_per_address(
    app: FastAPI, runtime: Runtime, client: TestClient, locale: str
) -> None:
    settings = runtime.settings.model_copy(update={"rate_limit_signin": 2})
    app.state.rate_limiters = limiters_on(runtime, settings, FakeMonotonic())
    client.post("/v1/customers", data={"email": "known@example.com"})
    path = login_path(client)
    with TestClient(app, headers={"Accept-Language": locale}) as visitor:
        assert [ask(visitor, path, "known@example.com")[0] for _ in range(2)] == [200, 200]
        queued = emails(runtime)
        assert queued == 2  # one link per request, until the limit
        known = ask(visitor, path, "known@example.com")
        unknown = ask(visitor, path, "nobody@example.com")
    assert known == unknown  # the same page: nothing tells whether the account exists
    status, page, retry_after = known
    assert status == 429 and retry_after == "30"
    assert TEXTS[locale] in page
    assert emails(runtime) == queued
    with TestClient(app, client=("198.51.100.4", 50000)) as elsewhere:
        assert ask(elsewhere, path, "known@example.com")[0] == 200
