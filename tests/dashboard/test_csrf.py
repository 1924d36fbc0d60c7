"""Every dashboard form carries a CSRF token bound to the staff session: without it, a 403 page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import Business, page_csrf
from tests.dashboard.test_roles import ADMIN_POSTS, OPERATOR_POSTS


@pytest.mark.parametrize("token", [None, "forged"])
def test_posts_without_a_valid_token_are_refused(
    admin: TestClient, business: Business, token: str | None
) -> None:
    subscription = business.subscribe(business.customer())
    data = {"mode": "immediately", "feedback": "other", "name": "k", "percent_off": "10"}
    if token:
        data["csrf_token"] = token
    for path in [*ADMIN_POSTS, *(p.format(sub=subscription) for p in OPERATOR_POSTS), "/dashboard/logout"]:
        answer = admin.post(path, data=data)
        assert answer.status_code == 403, path
        assert "This form has expired" in answer.text
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["status"] == "active"
    assert admin.get("/dashboard").status_code == 200  # still signed in


def test_a_token_is_bound_to_its_session(admin: TestClient, analyst: TestClient, business: Business) -> None:
    """Another staff member's token does not work in this session."""
    subscription = business.subscribe(business.customer())
    foreign = page_csrf(analyst)
    answer = admin.post(
        f"/dashboard/subscriptions/{subscription}/cancel",
        data={"csrf_token": foreign, "mode": "immediately", "feedback": "other"},
    )
    assert answer.status_code == 403
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["status"] == "active"
