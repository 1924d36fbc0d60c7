"""`python -m bench --explain`: the SQL each floor runs, in order, as the driver gets it.

Each floor runs once, in this process, against a small throwaway store set up as the harness sets
up its stores: Tenure's own commands migrate it and mint a key (`bench.stack`); Tenure's API and
portal, in process as `bench.seed` uses them, make the seed's paying customer on a monthly plan and
walk a cancel flow like the API scenario's browser (`bench.scenarios.portal`) up to its final POST;
`bench.scenarios.billing.seed_due` clones due subscriptions, which Tenure's `run_billing` renews
before the billing floor writes the same rows into a copy taken before the run. One webhook
endpoint wanting every event is added (as in the webhooks scenario) so that the floors' deliveries
show. The statements are recorded by tracing `bench.floors.sql.Database`: what is printed is what
runs, not a copy. The store (and PostgreSQL's cluster, with `--db postgres`) is removed again, also
on errors and Ctrl-C.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin

import tenure.models as models
from bench.config import QUICK
from bench.context import Bench
from bench.floors.app import Floor, cancel_floor, customer_floor, portal_session_floor, subscription_floor
from bench.floors.bulk import copy_rows
from bench.floors.sql import Database
from bench.procs import BenchError
from bench.scenarios import billing, portal
from bench.seed import api_client, runtime_for, template_subscription
from bench.stack import SECRET_KEY, Store, Workspace
from tenure.subscriptions.renew import run_billing

CUSTOMERS = "POST /v1/customers (app.py: customer_floor)"
SUBSCRIPTIONS = "POST /v1/subscriptions (app.py: subscription_floor)"
PORTAL_SESSIONS = "POST /v1/billing_portal/sessions (app.py: portal_session_floor)"
CANCEL = "portal cancel POST (app.py: cancel_floor)"
RENEWALS = "billing run, 3 renewals (bulk.py: copy_rows)"
DUE = 3  # subscriptions the billing run renews
IP = "127.0.0.1"


@dataclass(frozen=True)
class Statement:
    sql: str
    rows: int | None = None  # rows of an executemany, None for one execute


@dataclass
class Recorder:
    """The `Database.trace` of every floor: statements go to the floor running now."""

    floors: dict[str, list[Statement]] = field(default_factory=dict)
    _current: list[Statement] | None = None

    def __call__(self, sql: str, rows: int | None) -> None:
        if self._current is not None:
            self._current.append(Statement(sql, rows))

    @contextmanager
    def floor(self, name: str) -> Iterator[None]:
        self._current = self.floors.setdefault(name, [])
        try:
            yield
        finally:
            self._current = None


def _expect(name: str, outcome: tuple[int, Any], status: int) -> None:
    if outcome[0] != status:
        raise BenchError(f"the floor of {name} answered {outcome[0]}: {outcome[1]}")


def _post(client: Any, path: str, data: dict[str, str]) -> dict[str, Any]:
    response = client.post(path, data=data)
    if response.status_code >= 400:
        raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def _deep_link(client: Any, customer: str, price: str) -> str:
    """A new subscription and a portal session deep-linked into its cancel flow (as the API scenario
    makes them); returns the session's path."""
    subscription = _post(client, "/v1/subscriptions", {"customer": customer, "items[0][price]": price})
    session = _post(
        client,
        "/v1/billing_portal/sessions",
        {
            "customer": customer,
            "return_url": f"http://{IP}/return",
            "flow_data[type]": "subscription_cancel",
            "flow_data[subscription_cancel][subscription]": str(subscription["id"]),
        },
    )
    return portal._local(str(session["url"]))


def _walk(
    client: Any, session_path: str, *, stop_before: int | None
) -> tuple[int, tuple[str, dict[str, str]]]:
    """The API scenario's browser walk (`bench.scenarios.portal`), in process: submit each step's
    form (a reason picked, offers declined); with `stop_before=N`, return the N-th POST unsent."""
    page = client.get(session_path, follow_redirects=True)
    if page.status_code >= 400:
        raise BenchError(f"the portal session page answered {page.status_code}")
    for step in range(1, portal.MAX_STEPS + 1):
        picked = portal._pick(portal._post_forms(page.text))
        if picked is None:
            if step == 1:
                raise BenchError("the portal page has no cancel form to submit")
            return step - 1, ("", {})
        form, body = picked
        path = portal._local(urljoin(str(page.url), form.action or str(page.url)))
        if stop_before == step:
            return step, (path, body)
        page = client.post(path, data=body, follow_redirects=True)
        if page.status_code >= 400:
            raise BenchError(f"step {step} of the cancel flow answered {page.status_code}")
    raise BenchError(f"the cancel flow did not end within {portal.MAX_STEPS} steps")


@dataclass(frozen=True)
class Setup:
    customer: str
    price: str
    # The cancel flow's final POST, unsent: its path, the browser's portal cookie, the form.
    cancel_path: str
    cancel_token: str
    cancel_form: dict[str, str]


def _set_up(client: Any) -> Setup:
    """Through Tenure's API and portal: one webhook endpoint, the seed's paying customer on a monthly
    plan (`bench.seed.template_subscription`), its portal configuration, and a cancel flow walked
    up to its final POST (a first flow walked through to learn how many POSTs that is)."""
    _post(client, "/v1/webhook_endpoints", {"url": f"http://{IP}:9/hooks", "enabled_events[]": "*"})
    subscription = client.get(f"/v1/subscriptions/{template_subscription(client)}").json()
    customer, price = str(subscription["customer"]), str(subscription["items"]["data"][0]["price"]["id"])
    _post(client, "/v1/billing_portal/sessions", {"customer": customer})  # the default configuration
    steps, _ = _walk(client, _deep_link(client, customer, price), stop_before=None)
    _, (path, form) = _walk(client, _deep_link(client, customer, price), stop_before=steps)
    return Setup(customer, price, path, str(client.cookies.get("tenure_portal")), form)


def _api_floors(store: Store, secret: str, setup: Setup, recorder: Recorder) -> None:
    floor = Floor(database=Database(store.url, trace=recorder), secret_key=SECRET_KEY)
    customer, price = setup.customer, setup.price
    try:
        with recorder.floor(CUSTOMERS):
            form = {"email": "explain@example.com", "name": "Explain"}
            _expect(CUSTOMERS, customer_floor(floor, secret, form, IP), 200)
        with recorder.floor(SUBSCRIPTIONS):
            form = {"customer": customer, "items[0][price]": price}
            _expect(SUBSCRIPTIONS, subscription_floor(floor, secret, form, IP), 200)
        with recorder.floor(PORTAL_SESSIONS):
            form = {"customer": customer, "return_url": f"http://{IP}/return"}
            _expect(PORTAL_SESSIONS, portal_session_floor(floor, secret, form, IP, f"http://{IP}"), 200)
        path = setup.cancel_path.split("?", 1)[0]
        if not path.endswith("/cancel/reason"):
            raise BenchError(f"the cancel flow's last POST is {path}, which the floor does not serve")
        with recorder.floor(CANCEL):
            outcome = cancel_floor(floor, setup.cancel_token, path.split("/")[3], setup.cancel_form)
            _expect(CANCEL, outcome, 303)
    finally:
        floor.database.close()


def _snapshot(workspace: Workspace, store: Store) -> str:
    """A copy of the store as it is now (the billing floor's target), as the billing scenario takes it."""
    if store.kind == "sqlite":
        copy = store.data_dir / "floor.sqlite3"
        with sqlite3.connect(store.url.split(":///", 1)[1]) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        return f"sqlite:///{copy}"
    return billing.snapshot(
        Bench(profile=QUICK, dbs=[store.kind], workspace=workspace, selected=set()), store
    )


@dataclass
class _KeyedStore(Store):
    """The store with the key it already has: `seed_due` asks for one, and minting another would
    start one more `tenure` process."""

    secret: str = ""

    def create_key(self) -> str:
        return self.secret


def _renewals_floor(workspace: Workspace, store: Store, secret: str, recorder: Recorder) -> None:
    """`seed_due` clones due subscriptions, Tenure's `run_billing` renews them in this process, and the
    billing floor writes the same rows into a copy of the store taken before the run."""
    billing.seed_due(_KeyedStore(store.kind, store.url, store.data_dir, secret=secret), DUE)
    target = _snapshot(workspace, store)
    since = billing._max_pks(store)
    with runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime:
        renewed = run_billing(runtime)
    if renewed < DUE:
        raise BenchError(f"Tenure's billing run renewed {renewed} of {DUE} subscriptions")
    after = billing._max_pks(store)
    # Parents before children, as the billing scenario orders them.
    order = [table.name for table in models.Base.metadata.sorted_tables]
    grown = {
        table: since[table]
        for table in sorted(since, key=lambda name: order.index(name) if name in order else len(order))
        if since[table] < after[table]
    }
    source, floor = Database(store.url), Database(target, trace=recorder)
    try:
        with recorder.floor(RENEWALS):
            copy_rows(source, floor, grown)
    finally:
        source.close()
        floor.close()


def collect(kind: str = "sqlite", *, log: Callable[[str], None] | None = None) -> dict[str, list[Statement]]:
    """Run every floor once on a throwaway store of `kind`; their statements, by floor, in order."""
    say = log or (lambda _message: None)
    recorder = Recorder()
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="tenure-explain-")))
    try:
        say(f"explain: a throwaway {kind} store, migrated and keyed by `tenure migrate` and `tenure keys`")
        store = workspace.new_store(kind, "explain")
        secret = store.create_key()
        say("explain: a customer, a webhook endpoint and a cancel flow through Tenure's API and portal")
        with (
            runtime_for(store.url, store.data_dir, SECRET_KEY) as runtime,
            api_client(runtime, secret) as client,
        ):
            setup = _set_up(client)
        say("explain: each API floor once")
        _api_floors(store, secret, setup, recorder)
        say(f"explain: {DUE} due subscriptions renewed by Tenure's billing run, then by the billing floor")
        _renewals_floor(workspace, store, secret, recorder)
    finally:
        workspace.close()
    return recorder.floors


def render(floors: dict[str, list[Statement]], *, kind: str) -> str:
    lines = [
        f"The SQL each floor runs, in order, on a throwaway {kind} store with one enabled webhook",
        "endpoint wanting every event (the api and billing scenarios have none: there the floors",
        "insert no delivery). `× N` marks an executemany of N rows.",
    ]
    for name, statements in floors.items():
        lines += ["", f"== {name}: {len(statements)} statements"]
        for number, statement in enumerate(statements, 1):
            text = " ".join(statement.sql.split())
            if statement.rows is not None:
                text += f"  × {statement.rows}"
            lines.append(
                textwrap.fill(text, width=110, initial_indent=f"{number:>3}. ", subsequent_indent=" " * 8)
            )
    return "\n".join(lines) + "\n"


def main(kind: str = "sqlite", *, out: TextIO | None = None) -> int:
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    try:
        floors = collect(kind, log=log)
    except BenchError as exc:
        log(f"explain failed: {exc}")
        return 1
    (out or sys.stdout).write(render(floors, kind=kind))
    log(f"explain: done in {time.monotonic() - began:.1f} s")
    return 0
