"""The `tenure` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tenure.config import Settings
from tenure.db.migrate import alembic_config, upgrade
from tenure.runtime import Runtime
from tenure.staff.models import StaffRole

app = typer.Typer(
    help="Tenure: subscription billing whose customer portal keeps customers.", no_args_is_help=True
)
keys_app = typer.Typer(help="Secret API keys.", no_args_is_help=True)
staff_app = typer.Typer(help="Dashboard staff accounts.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(staff_app, name="staff")


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _is_at_head(runtime: Runtime) -> bool:
    script = ScriptDirectory.from_config(alembic_config(runtime.settings.effective_database_url))
    with runtime.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == set(script.get_heads())


def _allow_private_webhooks_for_the_demo() -> None:
    """The demo runs on one's own machine, whose webhook receivers are local: allow private addresses
    (unless `TENURE_WEBHOOK_ALLOW_PRIVATE` says otherwise). Through the environment, so that every
    server process started from here sees it too."""
    import os

    os.environ.setdefault("TENURE_WEBHOOK_ALLOW_PRIVATE", "true")


def prepare_store(settings: Settings) -> Runtime:
    """Open the store; the embedded SQLite store is upgraded in place, PostgreSQL must be migrated first."""
    runtime = Runtime.build(settings)
    if runtime.database_kind == "sqlite":
        upgrade(settings.effective_database_url)
    elif not _is_at_head(runtime):
        _err("The PostgreSQL schema is not up to date: run `tenure migrate` first.")
        raise typer.Exit(code=2)
    return runtime


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the latest revision."""
    settings = Settings()
    if settings.database_kind == "sqlite":
        settings.ensure_data_dir()
    typer.echo(f"Migrating {settings.database_kind} store…", err=True)
    upgrade(settings.effective_database_url)
    typer.echo("Schema is up to date.", err=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed demo data into an empty store first.")] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the embedded worker.")] = False,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL recommended above 1).")] = 1,
) -> None:
    """Run the API, portal and dashboard, with the embedded background worker."""
    import uvicorn

    if demo:
        _allow_private_webhooks_for_the_demo()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    runtime = prepare_store(settings)
    if demo:
        from tenure.demo import seed_demo

        secret = seed_demo(runtime, progress=_err)
        _print_tour(settings, secret)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if workers > 1:
        # Each process builds its own runtime from the environment (see tenure.asgi).
        import os

        os.environ["TENURE_HOST"] = settings.host
        os.environ["TENURE_PORT"] = str(settings.port)
        os.environ["TENURE_EMBEDDED_WORKER"] = "0" if no_worker else "1"
        runtime.close()
        uvicorn.run(
            "tenure.asgi:app",
            host=settings.host,
            port=settings.port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_level="warning",
        )
        return
    from tenure.app import create_app
    from tenure.jobs.worker import start_in_thread

    stop = None
    if not no_worker:
        _thread, stop = start_in_thread(runtime)
    try:
        uvicorn.run(
            create_app(runtime),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_level="info",
        )
    finally:
        if stop is not None:
            stop.set()
        runtime.close()


def _print_tour(settings: Settings, secret: str | None) -> None:
    base = settings.public_base_url
    typer.echo("")
    typer.echo("Tenure demo is starting:")
    typer.echo(f"  Health:          {base}/healthz")
    typer.echo(f"  API docs:        {base}/docs")
    typer.echo(f"  Subscriptions:   curl -u '{secret or 'sk_test_…'}:' '{base}/v1/subscriptions?status=all'")
    typer.echo(f"  Test clocks:     curl -u '{secret or 'sk_test_…'}:' {base}/v1/test_helpers/test_clocks")
    if secret:
        typer.echo(f"  Demo secret key: {secret}")
    typer.echo("")


@app.command()
def worker() -> None:
    """Run only the background worker (webhook deliveries, renewals, emails)."""
    import signal
    import threading

    from tenure import features
    from tenure.jobs.worker import run_forever

    features.load()  # registers every feature's periodic tasks, job handlers and event listeners

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = prepare_store(Settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_forever(runtime, stop)


@app.command()
def listen(
    forward_to: Annotated[str, typer.Option("--forward-to", help="URL of your local webhook handler.")],
    events: Annotated[
        str, typer.Option(help="Comma-separated event types to forward (`*`, `customer.*`…).")
    ] = "*",
) -> None:
    """Forward new events to a local URL, signed with the printed secret (like `stripe listen`)."""
    import signal
    import time

    from tenure.events.types import is_known
    from tenure.webhooks.listen import forward_events, latest_event_pk, listen_secret

    patterns = [part.strip() for part in events.split(",") if part.strip()]
    unknown = [pattern for pattern in patterns if not is_known(pattern)]
    if unknown or not patterns:
        _err(f"error: unknown event type(s): {', '.join(unknown) or '(none given)'}")
        raise typer.Exit(code=2)
    if not forward_to.startswith(("http://", "https://")):
        _err("error: --forward-to must be an http:// or https:// URL")
        raise typer.Exit(code=2)
    runtime = prepare_store(Settings())
    secret = listen_secret(runtime)
    start = latest_event_pk(runtime)
    typer.echo(f"Ready! Your webhook signing secret is {secret} (^C to quit)")
    # ^C and SIGTERM stop it, even when started by a process that ignores or blocks them (a
    # supervisor, a test runner's worker): both dispositions and masks are inherited across exec.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        forward_events(
            runtime,
            url=forward_to,
            patterns=patterns,
            secret=secret,
            after_pk=start,
            echo=typer.echo,
            sleep=time.sleep,
        )
    except KeyboardInterrupt:
        typer.echo("Stopped.", err=True)
    finally:
        runtime.close()


@keys_app.command("create")
def keys_create(name: Annotated[str | None, typer.Option(help="A label for the key.")] = None) -> None:
    """Create a secret API key and print it (alone on the last line). It is shown only once."""
    from tenure.keys.service import create_key

    runtime = prepare_store(Settings())
    with runtime.sessionmaker() as session:
        _key, secret = create_key(session, now=runtime.clock.now(), name=name)
        session.commit()
    runtime.close()
    typer.echo("Store this key now: it cannot be shown again.", err=True)
    typer.echo(secret)


@staff_app.command("create")
def staff_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[
        str,
        typer.Option(
            help="At least 8 characters. Left out, it is asked for (hidden, twice), which keeps it out "
            "of the shell history and the process list.",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
        ),
    ],
    role: Annotated[StaffRole, typer.Option(help="admin or analyst.")] = StaffRole.ADMIN,
) -> None:
    """Create a dashboard account (or reset its password and role)."""
    from tenure.api.errors import TenureError
    from tenure.staff.service import create_staff

    runtime = prepare_store(Settings())
    with runtime.sessionmaker() as session:
        try:
            user = create_staff(session, email=email, password=password, role=role, now=runtime.clock.now())
        except TenureError as exc:
            _err(f"error: {exc.message}")
            raise typer.Exit(code=2) from None
        session.commit()
        typer.echo(f"{user.role} {user.email} ({user.id})")
    runtime.close()


@app.command()
def demo(
    customers: Annotated[
        int | None, typer.Option(min=10, help="How many customers to seed (default 300).")
    ] = None,
) -> None:
    """Seed a demo business with a year of history (once) and print a new secret key for it."""
    from tenure.demo import DEFAULT_SIZE, seed_demo

    _allow_private_webhooks_for_the_demo()
    settings = Settings()
    runtime = prepare_store(settings)
    secret = seed_demo(runtime, size=customers or DEFAULT_SIZE, progress=_err)
    runtime.close()
    _print_tour(settings, secret)


@app.command()
def backup(
    output: Annotated[
        Path | None,
        typer.Argument(help="Backup file (or directory for a dated name); default: a dated file here."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing backup file.")] = False,
) -> None:
    """Write a consistent backup of the live store (SQLite online backup, or pg_dump)."""
    import time

    from tenure.backup import BackupError, create_backup, default_name

    settings = Settings()
    runtime = prepare_store(settings)
    now = runtime.clock.now()
    runtime.close()
    target = output or Path(default_name(settings.database_kind, now))
    if target.is_dir():
        target = target / default_name(settings.database_kind, now)
    _err(f"Backing up the {settings.database_kind} store to {target}…")
    started = time.monotonic()
    try:
        written = create_backup(settings, target, overwrite=force)
    except BackupError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(code=2) from None
    _err(f"Done in {time.monotonic() - started:.1f} s ({written.size / 1e6:.1f} MB).")
    _err("The secret key (TENURE_SECRET_KEY or secret_key in the data directory) is not in the backup:")
    _err("keep it too, or the restored store's webhook signing secrets cannot be read.")
    typer.echo(str(written.path))


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file written by `tenure backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the contents of a store that already holds data.")
    ] = False,
) -> None:
    """Restore a backup into the configured store (stop Tenure first), upgrade it, and check it."""
    from tenure.backup import BackupError, restore_backup

    settings = Settings()
    if settings.database_kind == "sqlite":
        settings.ensure_data_dir()
    _err(f"Restoring {source} into the {settings.database_kind} store…")
    try:
        restore_backup(settings, source, force=force)
    except BackupError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(code=2) from None
    upgrade(settings.effective_database_url)
    _err("Restored; checking consistency…")
    raise typer.Exit(code=_report_problems(settings, settled=False))


@app.command()
def check(
    settled: Annotated[
        bool,
        typer.Option(
            "--settled", help="Also require every webhook delivered and every due job done (worker drained)."
        ),
    ] = False,
) -> None:
    """Check the store's consistency; prints each problem and exits 1 if there is any."""
    settings = Settings()
    prepare_store(settings).close()
    raise typer.Exit(code=_report_problems(settings, settled=settled))


def _report_problems(settings: Settings, *, settled: bool) -> int:
    from tenure.consistency import check_store

    runtime = Runtime.build(settings)
    try:
        with runtime.sessionmaker() as session:
            problems = check_store(session, settled=settled, now=runtime.clock.now())
    finally:
        runtime.close()
    for problem in problems:
        typer.echo(str(problem))
    _err(f"{len(problems)} problem(s) found." if problems else "No problems found.")
    return 1 if problems else 0


def main() -> None:  # pragma: no cover - entry point for `python -m tenure`
    app(prog_name="tenure")


if __name__ == "__main__":  # pragma: no cover
    main()
