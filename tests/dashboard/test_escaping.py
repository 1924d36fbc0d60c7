"""Whatever customers type (names, comments) is shown as text; searches never become SQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.dashboard.conftest import Business

SCRIPT = "<script>alert(1)</script>"
NAME = '"><img src=x onerror=alert(2)> Mallory'


def test_customer_text_is_escaped_everywhere(admin: TestClient, business: Business) -> None:
    customer = business.customer(email="mallory@example.com", name=NAME)
    subscription = business.subscribe(customer)
    business.cancel(subscription, feedback="other", comment=f"{SCRIPT} & <b>bold</b> 'quoted'")
    pages = [
        "/dashboard/subscriptions?tab=canceled",
        f"/dashboard/subscriptions/{subscription}",
        f"/dashboard/customers/{customer}",
        "/dashboard/customers?q=mallory",
        "/dashboard/customers?q=" + SCRIPT,
    ]
    for path in pages:
        html = admin.get(path).text
        assert "<script" not in html, path  # the dashboard has no script at all
        assert "<img src=x" not in html and "<b>bold</b>" not in html, path
    detail = admin.get(f"/dashboard/subscriptions/{subscription}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in detail
    assert (
        "&#34;&gt;&lt;img src=x onerror=alert(2)&gt; Mallory"
        in admin.get(f"/dashboard/customers/{customer}").text
    )
    tip = admin.get("/dashboard/subscriptions?tab=canceled").text
    assert "“&lt;script&gt;alert(1)&lt;/script&gt;" in tip
    # The event JSON is shown as text too.
    assert (
        "&#34;comment&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt; &amp;"
        in detail.split('class="json"')[1]
    )


def test_search_matches_text_literally(admin: TestClient, business: Business) -> None:
    business.customer(email="ann_lee@example.com", name="Ann 100% Lee")
    business.customer(email="bo@example.com", name="Bo")
    assert "ann_lee@example.com" in admin.get("/dashboard/customers?q=ANN_LEE").text
    assert "bo@example.com" in admin.get("/dashboard/customers?q=Bo").text
    for wildcard in ("%", "_", "n_l", "' OR '1'='1"):
        found = admin.get("/dashboard/customers", params={"q": wildcard}).text
        assert "bo@example.com" not in found, wildcard  # LIKE wildcards are escaped, quotes are data
    assert "ann_lee@example.com" in admin.get("/dashboard/customers", params={"q": "100%"}).text
