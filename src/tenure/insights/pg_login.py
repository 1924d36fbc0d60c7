"""The SQL console's own PostgreSQL login: the `tenure_insights` role, connected as itself.

Taking the role inside the application's session (`SET LOCAL ROLE`) is not a boundary: a query
can hand the role back (`set_config('role', 'none', true)`) and read anything the application
can. A session that *logs in* as `tenure_insights` has nothing to go back to. The role gets a
password derived from the server's secret key the first time the console runs; that needs the
application's database user to be allowed to alter the role (CREATEROLE, or a superuser), as the
migration that created it does.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tenure.api.errors import InvalidRequest
from tenure.runtime import Runtime

ROLE = "tenure_insights"
_prepared: set[str] = set()
_lock = threading.Lock()


class ConsoleUnavailable(InvalidRequest):
    code = "sql_console_unavailable"


def _password(runtime: Runtime) -> str:
    key = runtime.settings.resolved_secret_key().encode()
    return hmac.new(key, b"tenure insights console login", hashlib.sha256).hexdigest()


def console_engine(runtime: Runtime) -> Engine:
    """An engine that logs in as the console role (no pool: the console is used now and then, and
    an idle pool per database would hold connections for nothing)."""
    password = _password(runtime)
    url = make_url(runtime.settings.effective_database_url).set(username=ROLE, password=password)
    rendered = url.render_as_string(hide_password=False)
    with _lock:
        if rendered not in _prepared:
            try:
                with runtime.engine.begin() as connection:
                    # A hex digest: nothing to escape. ALTER ROLE takes no bind parameters.
                    connection.execute(text(f"ALTER ROLE {ROLE} LOGIN PASSWORD '{password}'"))
            except DBAPIError:
                raise ConsoleUnavailable(
                    f"The SQL console needs its own database login: let the application's database user "
                    f"alter the `{ROLE}` role (CREATEROLE), or run `ALTER ROLE {ROLE} LOGIN PASSWORD …` "
                    "as an administrator.",
                    param="query",
                ) from None
            _prepared.add(rendered)
    return create_engine(url, poolclass=NullPool)
