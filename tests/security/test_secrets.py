"""Passwords, keys and tokens: how they are stored, that they never reach a log, and that every
presented secret is compared in constant time.

Storage: staff passwords are argon2id hashes; API keys, staff and portal session tokens SHA-256
hashes (looked up by hash, so nothing compares the secret itself); webhook secrets and stored
responses sealed. Every secret made through the real flows (CLI, dashboard, API, portal, emails)
is then searched for in every cell of every table and in every log record.

Comparisons: a scan of the source finds `==`/`in` between secret-looking values (a new one fails
unless allowed below with its reason), and a spy on `hmac.compare_digest` proves each verifier of
a presented secret goes through it.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer.testing import CliRunner

import tenure
from tenure.cli import app as cli_app
from tenure.keys.models import ApiKey
from tenure.runtime import Runtime
from tenure.staff.models import StaffUser
from tenure.webhooks.signing import stripe_signature, verify_signature
from tests.dashboard.conftest import ADMIN
from tests.security.conftest import World, csrf_of, snapshot

STAFF_PASSWORD = "a long and secret passphrase 42"
WRONG_PASSWORD = "not-the-password-but-still-secret-7"
SECRET_KEY = re.compile(r"sk_test_[A-Za-z0-9]{20,}")


def cli(runtime: Runtime, *args: str, stdin: str | None = None) -> Any:
    env = {
        "TENURE_DATABASE_URL": runtime.settings.effective_database_url,
        "TENURE_DATA_DIR": str(runtime.settings.data_dir),
        "TENURE_SECRET_KEY": runtime.settings.resolved_secret_key(),
    }
    return CliRunner().invoke(cli_app, list(args), env=env, input=stdin)


def test_passwords_are_argon2id_and_keys_sha256(runtime: Runtime) -> None:
    made = cli(runtime, "staff", "create", "--email", "ops@example.com", "--password", STAFF_PASSWORD)
    assert made.exit_code == 0, made.output
    assert STAFF_PASSWORD not in made.output
    key = cli(runtime, "keys", "create", "--name", "ci")
    assert key.exit_code == 0, key.output
    secret = key.stdout.strip().splitlines()[-1]
    with runtime.sessionmaker() as session:
        staff = session.scalars(select(StaffUser).where(StaffUser.email == "ops@example.com")).one()
        stored = session.scalars(select(ApiKey).where(ApiKey.name == "ci")).one()
    found = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", staff.password_hash)
    assert found, staff.password_hash[:20]
    memory_kib, iterations = int(found.group(1)), int(found.group(2))
    assert memory_kib >= 19 * 1024 and iterations >= 2  # at least OWASP's argon2id minimum
    assert PasswordHasher().verify(staff.password_hash, STAFF_PASSWORD)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.redacted.endswith(secret[-4:]) and secret[8:-4] not in stored.redacted


def test_staff_create_can_prompt_for_the_password(runtime: Runtime) -> None:
    made = cli(runtime, "staff", "create", "--email", "ops@example.com", stdin=f"{STAFF_PASSWORD}\n" * 2)
    assert made.exit_code == 0, made.output
    assert STAFF_PASSWORD not in made.output


def every_stored_value(runtime: Runtime) -> str:
    return "\n".join(repr(rows) for rows in snapshot(runtime).values())


def test_no_secret_is_stored_in_clear_or_logged(
    world: World, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: dict[str, str] = {"server secret key": world.secret}
    made = cli(runtime, "keys", "create")
    secrets["key from the CLI"] = made.stdout.strip().splitlines()[-1]
    assert (
        cli(runtime, "staff", "create", "--email", "ops@example.com", "--password", STAFF_PASSWORD).exit_code
        == 0
    )
    secrets["staff password"] = STAFF_PASSWORD
    admin = world.admin
    secrets["admin password"] = ADMIN[1]
    secrets["staff session cookie"] = admin.cookies["tenure_dashboard"]
    wrong = world.client()
    form = wrong.get("/dashboard/login")
    wrong.post(
        "/dashboard/login",
        data={"csrf_token": csrf_of(form.text), "email": ADMIN[0], "password": WRONG_PASSWORD},
    )
    secrets["a mistyped password"] = WRONG_PASSWORD
    page = admin.post(
        "/dashboard/api-keys", data={"csrf_token": csrf_of(admin.get("/dashboard/api-keys").text)}
    )
    shown = SECRET_KEY.search(page.text)
    assert shown, "the new key is shown once"
    secrets["key from the dashboard"] = shown.group(0)
    endpoint = world.api.post(
        "/v1/webhook_endpoints",
        data={"url": "https://hooks.example/s", "enabled_events[0]": "*"},
        headers={"Idempotency-Key": "webhook-secret-at-rest"},
    ).json()
    secrets["webhook signing secret"] = endpoint["secret"]
    portal = world.api.post(
        "/v1/billing_portal/sessions",
        data={"customer": world.victim.customer},
        headers={"Idempotency-Key": "portal-url-at-rest"},
    ).json()
    secrets["portal URL secret"] = portal["url"].rsplit("/", 1)[1]
    secrets["portal browser cookie"] = world.victim.browser.cookies["tenure_portal"]
    secrets["sign-in link"] = world.sign_in_token.partition(".")[2]
    secrets["checkout browser cookie"] = world.checkout_browser.cookies["tenure_checkout"]
    assert all(len(value) >= 10 for value in secrets.values())

    stored = every_stored_value(runtime)
    assert [name for name, value in secrets.items() if value in stored] == []
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}" for record in caplog.records
    )
    assert [name for name, value in secrets.items() if value in logged] == []


# Comparisons the scan below finds that are not checks of a presented secret.
NOT_SECRET_CHECKS = {
    "visit.browser_token != token": "checkout/pages.py: whether the page made a new cookie to set",
    "token not in TEST_TOKENS": "payments/processor.py: the test processor's public tokens (pm_card_visa…)",
}
_SECRET_NAME = re.compile(r"secret|token|signature|digest|(^|_)mac($|_)|csrf|password|passwd", re.I)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call | ast.Subscript):
        return _name(node.func if isinstance(node, ast.Call) else node.value)
    return None


def _is_column(node: ast.AST) -> bool:
    """`Model.column == value`: SQL, comparing a hash of a high-entropy secret inside the database."""
    return (
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id[:1].isupper()
    )


def test_no_secret_is_compared_with_plain_equality() -> None:
    root = Path(tenure.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) for o in operands) or any(_is_column(o) for o in operands):
                continue
            if any(_SECRET_NAME.search(_name(o) or "") for o in operands):
                expression = ast.unparse(node)
                if expression not in NOT_SECRET_CHECKS:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {expression}")
    assert not found, "use hmac.compare_digest (tenure.web.security.same_secret):\n" + "\n".join(found)


class Spy:
    def __init__(self, real: Callable[[Any, Any], bool]) -> None:
        self.real = real
        self.seen: list[bytes] = []

    def __call__(self, a: Any, b: Any) -> bool:
        for value in (a, b):
            self.seen.append(value.encode() if isinstance(value, str) else bytes(value))
        return self.real(a, b)

    def compared(self, presented: str) -> bool:
        return presented.encode() in self.seen


def test_every_presented_secret_goes_through_compare_digest(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(hmac.compare_digest)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    checks: list[tuple[str, str, Callable[[], object]]] = []
    victim = world.victim
    portal = f"/portal/subscriptions/{victim.subscription}/renew"
    checks.append(
        ("portal CSRF", victim.csrf, lambda: victim.browser.post(portal, data={"csrf_token": victim.csrf}))
    )
    dashboard = csrf_of(world.admin.get("/dashboard").text)
    checks.append(
        (
            "dashboard CSRF",
            dashboard,
            lambda: world.admin.post("/dashboard/coupons", data={"csrf_token": dashboard}),
        )
    )
    checkout = f"/checkout/{world.checkout}"
    checks.append(
        (
            "checkout CSRF",
            world.checkout_csrf,
            lambda: world.checkout_browser.post(
                checkout, data={"csrf_token": world.checkout_csrf, "action": "cancel_wallet"}
            ),
        )
    )
    sign_in = world.sign_in_token
    checks.append(("sign-in link", sign_in, lambda: world.client().get(f"/portal/sign-in/{sign_in}")))
    email_link = world.email_link(victim)
    checks.append(
        (
            "email link",
            email_link.rpartition(".")[2],
            lambda: world.client().get(f"/portal/email-link/{email_link}"),
        )
    )
    unsubscribe = world.values("/email/unsubscribe", victim)["token"]
    checks.append(
        (
            "unsubscribe link",
            unsubscribe.rpartition(".")[2],
            lambda: world.client().get(f"/email/unsubscribe/{unsubscribe}"),
        )
    )
    signature = stripe_signature("whsec_x", b"{}", world.runtime.clock.now()).partition(",v1=")[2]
    header = f"t={world.runtime.clock.now()},v1={signature}"
    checks.append(("webhook signature", signature, lambda: verify_signature("whsec_x", b"{}", header)))
    missing = []
    for label, presented, act in checks:
        spy.seen.clear()
        act()
        if not spy.compared(presented):
            missing.append(label)
    assert not missing, missing
