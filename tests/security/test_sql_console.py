"""The SQL console's escapes, on SQLite and PostgreSQL: writes, DDL, several statements, other
tables, files, extensions, roles and settings are all refused with a 400 naming `query`, and
leave the database as it was. No view shows a secret: every row of every view is read and
compared with every secret and hash the store holds.
"""

from __future__ import annotations

from sqlalchemy import select

from tenure.dashboard.models import StaffSession
from tenure.insights.sql_console import run_query
from tenure.insights.sql_views import VIEW_NAMES
from tenure.keys.models import ApiKey
from tenure.portal.models import PortalSession
from tenure.runtime import Runtime
from tenure.staff.models import StaffUser
from tenure.webhooks.models import WebhookEndpoint
from tests.security.conftest import World, changed_tables, snapshot

ESCAPES = [
    # Writes and DDL, directly, through a CTE, or after a first statement.
    "INSERT INTO customers (id) VALUES ('cus_x')",
    "UPDATE subscriptions SET status = 'active'",
    "DELETE FROM invoices",
    "DROP VIEW customers",
    "CREATE TEMP TABLE t (x int)",
    "CREATE TEMP VIEW v AS SELECT 1",
    "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone",
    "SELECT 1; DELETE FROM customers",
    "SELECT 1; SELECT 2",
    "BEGIN",
    "SAVEPOINT s",
    "PREPARE p AS SELECT 1",
    "DO $$ BEGIN PERFORM 1; END $$",
    # Other tables, however they are named or reached.
    "SELECT * FROM api_keys",
    'SELECT * FROM "api_keys"',
    "SELECT * FROM main.api_keys",
    "SELECT * FROM public.api_keys",
    "SELECT secret_hash FROM public.api_keys",
    "SELECT password_hash FROM staff_users",
    "SELECT * FROM public.staff_sessions",
    "SELECT * FROM public.webhook_endpoints",
    "SELECT * FROM public.portal_sessions",
    "SELECT * FROM idempotency_records",
    "WITH k AS (SELECT * FROM api_keys) SELECT * FROM k",
    "SELECT (SELECT secret_hash FROM main.api_keys LIMIT 1)",
    "SELECT c.id FROM customers c JOIN public.staff_users s ON true",
    "SELECT query_to_xml('select * from public.api_keys', true, false, '')",
    "SELECT nextval('public.api_keys_pk_seq')",
    # The engine's own catalogues, files, programs and extensions.
    "SELECT name FROM sqlite_master",
    "SELECT * FROM sqlite_schema",
    "SELECT * FROM pragma_table_info('api_keys')",
    "SELECT * FROM pragma_database_list",
    "PRAGMA writable_schema = 1",
    "ATTACH DATABASE ':memory:' AS other",
    "VACUUM INTO '/tmp/tenure-console-copy.db'",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT writefile('/tmp/tenure-console.txt', 'x')",
    "SELECT rolname, rolpassword FROM pg_authid",
    "SELECT pg_read_file('/etc/hostname')",
    "SELECT pg_ls_dir('.')",
    "SELECT lo_import('/etc/hostname')",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "COPY customers TO STDOUT",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    # Roles and settings.
    "SET ROLE postgres",
    "RESET ROLE",
    "SET search_path = public",
    "SET SESSION AUTHORIZATION DEFAULT",
]
# Known escape (PostgreSQL only): see test_the_role_cannot_be_switched_back below.
ROLE_ESCAPE = (
    "SELECT set_config('role', 'none', true) AS role, "
    "query_to_xml('select secret_hash from public.api_keys', true, false, '') AS keys"
)


def test_every_escape_is_refused_and_changes_nothing(world: World, runtime: Runtime) -> None:
    before = snapshot(runtime)
    problems = []
    for query in ESCAPES:
        answer = world.api.post("/v1/insights/sql", data={"query": query})
        if answer.status_code != 400 or answer.json()["error"]["param"] != "query":
            problems.append(f"{query!r}: {answer.status_code} {answer.text[:200]}")
    assert not problems, "\n".join(problems)
    assert not changed_tables(before, snapshot(runtime))
    # The console itself still works.
    assert (
        world.api.post("/v1/insights/sql", data={"query": "SELECT count(*) FROM customers"}).status_code
        == 200
    )


def stored_secrets(runtime: Runtime) -> list[str]:
    """Every secret-bearing value in the store: hashes, sealed secrets, tokens."""
    with runtime.sessionmaker() as session:
        found = list(session.scalars(select(ApiKey.secret_hash)))
        found += list(session.scalars(select(StaffUser.password_hash)))
        found += list(session.scalars(select(StaffSession.token_hash)))
        found += [v for v in session.scalars(select(PortalSession.url_secret_hash)) if v]
        found += [v for v in session.scalars(select(PortalSession.browser_token_hash)) if v]
        found += [str(v) for v in session.scalars(select(WebhookEndpoint.secret_encrypted)) if v]
    return found


def test_no_view_shows_a_secret(world: World, runtime: Runtime) -> None:
    assert world.admin and world.analyst  # staff accounts and sessions exist
    webhook = world.business.post(
        "/v1/webhook_endpoints", url="https://hooks.example/b", **{"enabled_events[0]": "*"}
    )
    secrets = [*stored_secrets(runtime), webhook["secret"], world.secret]
    assert len(secrets) >= 10
    for view in sorted(VIEW_NAMES):
        result = run_query(runtime, f"SELECT * FROM {view}")
        shown = repr(result.rows)
        assert not result.truncated
        leaked = [secret[:12] for secret in secrets if secret in shown]
        assert not leaked, (view, leaked)


def test_the_role_cannot_be_switched_back(world: World, runtime: Runtime) -> None:
    answer = world.api.post("/v1/insights/sql", data={"query": ROLE_ESCAPE})
    hashes = stored_secrets(runtime)
    assert not any(secret in answer.text for secret in hashes), answer.text[:300]
    if runtime.database_kind == "postgresql":
        # The console logs in as its role: there is no application role to go back to.
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "sql_refused"


def test_numeric_columns_come_back_as_json_numbers(world: World, runtime: Runtime) -> None:
    world.business.post("/v1/coupons", percent_off="12.5", duration="once")
    answer = world.api.post("/v1/insights/sql", data={"query": "SELECT percent_off FROM coupons"})
    assert answer.status_code == 200, answer.text[:300]
    assert 12.5 in [row[0] for row in answer.json()["rows"]]
