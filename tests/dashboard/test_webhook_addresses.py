"""The dashboard's webhook form refuses internal addresses, as the API does (SSRF)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tenure.config import Settings
from tests.dashboard.conftest import csrf_of
from tests.webhooks.conftest import ConnectionGuard, FakeDns

URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:22/",
    "http://[::1]:6379/",
    "http://0x7f000001/",
    "http://0/",
    "http://10.0.0.1/hooks",
    "http://192.168.0.1/hooks",
    "http://172.16.0.1/hooks",
    "http://100.64.0.1/hooks",
    "http://[fc00::1]/hooks",
    "http://[fe80::1]/hooks",
    "http://224.0.0.1/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://localhost/hooks",
]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret",
        webhook_allow_private=False,
    )


def test_the_form_refuses_internal_addresses(admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDns().install(monkeypatch)
    guard = ConnectionGuard().install(monkeypatch)
    token = csrf_of(admin.get("/dashboard/webhooks").text)
    for url in URLS:
        answer = admin.post(
            "/dashboard/webhooks", data={"csrf_token": token, "url": url, "enabled_events": "*"}
        )
        assert answer.status_code == 400, url
        assert "only to public addresses" in answer.text and "(url)" in answer.text, url
        assert "whsec_" not in answer.text
    assert 'href="/dashboard/webhooks/we_' not in admin.get("/dashboard/webhooks").text
    assert guard.outside == []
