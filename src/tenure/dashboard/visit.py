"""A staff member's visit: the session behind the cookie, the account, the database session and CSRF.
Every dashboard route (but sign-in) starts from a `StaffVisit`, through `require(capability)`.

The cookie's session is looked up in a read phase (docs/deploy.md, "SQLite: one writer at a time"):
a page that is only read (GET, HEAD) continues in it and never takes SQLite's write lock; a form
(POST) gets a write-phase session, which waits for its turn to write at its first statement."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tenure.audit.service import bind_address
from tenure.dashboard.auth import resolve_session
from tenure.dashboard.errors import DashboardError
from tenure.dashboard.models import StaffSession
from tenure.dashboard.roles import Capability, can, ensure
from tenure.ratelimit import client_address
from tenure.runtime import Runtime
from tenure.staff.models import StaffUser
from tenure.web.security import CSRF_FIELD, csrf_token, csrf_valid

COOKIE = "tenure_dashboard"
COOKIE_PATH = "/dashboard"


class Posted:
    """A submitted form: text fields only (the dashboard uploads no files)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def get(self, name: str, default: str = "") -> str:
        for key, value in reversed(self._items):
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self._items)

    def names(self) -> list[str]:
        return list(dict.fromkeys(key for key, _ in self._items))


async def posted_form(request: Request) -> Posted:
    """Parsed here (async) so that page routes can stay synchronous."""
    form = await request.form()
    return Posted([(key, value) for key, value in form.multi_items() if isinstance(value, str)])


Form = Annotated[Posted, Depends(posted_form)]


@dataclass
class StaffVisit:
    db: Session
    runtime: Runtime
    staff: StaffUser
    staff_session: StaffSession
    now: int

    @property
    def secret_key(self) -> str:
        return self.runtime.settings.resolved_secret_key()

    @property
    def csrf(self) -> str:
        return csrf_token(self.secret_key, f"dashboard:{self.staff_session.id}")

    def check_csrf(self, form: Posted) -> None:
        if not csrf_valid(self.secret_key, f"dashboard:{self.staff_session.id}", form.get(CSRF_FIELD)):
            raise DashboardError(403, "csrf")

    def can(self, capability: Capability | str) -> bool:
        return can(self.staff.role, Capability(capability))


READING_METHODS = ("GET", "HEAD")


def staff_visit(request: Request) -> Iterator[StaffVisit]:
    runtime: Runtime = request.app.state.runtime
    with runtime.read_session() as lookups:
        now = runtime.clock.now()
        found = resolve_session(lookups, request.cookies.get(COOKIE), now=now)
        if found is None:
            raise DashboardError(401, "signin")
        staff_session, staff = found
        visit = StaffVisit(db=lookups, runtime=runtime, staff=staff, staff_session=staff_session, now=now)
        if request.method in READING_METHODS:
            yield visit
            return
        lookups.commit()  # the read transaction ends here, not with the page
        with runtime.sessionmaker() as db:
            bind_address(db, client_address(request))  # for the audit log of the actions of this visit
            yield replace(visit, db=db)
        lookups.flush()  # refused (ReadPhaseWrite) if the page changed the staff member or session


def require(capability: Capability) -> Callable[[StaffVisit], StaffVisit]:
    """A dependency: the signed-in visit, if the staff member's role has `capability` (else a 403 page)."""

    def dependency(visit: Annotated[StaffVisit, Depends(staff_visit, scope="function")]) -> StaffVisit:
        ensure(visit.staff.role, capability)
        return visit

    dependency.__name__ = f"require_{capability.value}"
    return dependency


Reader = Annotated[StaffVisit, Depends(require(Capability.READ))]
Operator = Annotated[StaffVisit, Depends(require(Capability.OPERATE))]
SettingsAdmin = Annotated[StaffVisit, Depends(require(Capability.SETTINGS))]
KeysAdmin = Annotated[StaffVisit, Depends(require(Capability.KEYS))]
WebhooksAdmin = Annotated[StaffVisit, Depends(require(Capability.WEBHOOKS))]
OutboxAdmin = Annotated[StaffVisit, Depends(require(Capability.OUTBOX))]
