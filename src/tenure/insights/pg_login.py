"""The SQL console's own PostgreSQL login: the `tenure_insights` role, connected as itself.

Taking the role inside the application's session (`SET LOCAL ROLE`) is not a boundary: a query
can hand the role back (`set_config('role', 'none', true)`) and read anything the application
can. A session that *logs in* as `tenure_insights` has nothing to go back to. The role gets a
password derived from the server's secret key the first time the console runs; that needs the
application's database user to be allowed to alter the role (CREATEROLE, or a superuser), as the
migration that created it does. The role's temporary files are capped at the same time, where the
database allows it (see TEMP_FILE_LIMIT).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tenure.api.errors import InvalidRequest
from tenure.runtime import Runtime

ROLE = "tenure_insights"
# Temporary files one console query may write (sorts and hashes past work_mem). Only a superuser, or
# on PostgreSQL 15+ a user granted SET on the parameter, may set it, even for another role; without
# that a console query's temporary files are bounded by its time limit only.
TEMP_FILE_LIMIT = "256MB"
_prepared: set[str] = set()
log = logging.getLogger(__name__)
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
                    try:
                        with connection.begin_nested():
                            connection.execute(
                                text(f"ALTER ROLE {ROLE} SET temp_file_limit = '{TEMP_FILE_LIMIT}'")
                            )
                    except DBAPIError:
                        log.warning(
                            "SQL console: cannot cap the %s role's temporary files (temp_file_limit needs a "
                            "superuser, or GRANT SET ON PARAMETER temp_file_limit)",
                            ROLE,
                        )
            except DBAPIError:
                raise ConsoleUnavailable(
                    f"The SQL console needs its own database login: let the application's database user "
                    f"alter the `{ROLE}` role (CREATEROLE), or run `ALTER ROLE {ROLE} LOGIN PASSWORD …` "
                    "as an administrator.",
                    param="query",
                ) from None
            _prepared.add(rendered)
    return create_engine(url, poolclass=NullPool)
