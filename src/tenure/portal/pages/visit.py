"""A customer's visit to the portal: the browser session behind the cookie, the customer, the
configuration and the language. Every page route starts from a `PortalVisit`: `Visit` for a page that
only reads, `WritingVisit` for one that writes (docs/deploy.md, "SQLite: one writer at a time")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.portal.models import PortalConfiguration, PortalSession
from tenure.runtime import Runtime
from tenure.testclocks.service import object_now
from tenure.web.i18n import negotiate
from tenure.web.security import csrf_token, csrf_valid, hash_token

COOKIE = "tenure_portal"


class PortalPageError(Exception):
    """Rendered as a localized page (not JSON): expired sessions, missing objects, CSRF failures."""

    def __init__(self, status_code: int, kind: str, locale: str | None = None) -> None:
        super().__init__(kind)
        self.status_code = status_code
        self.kind = kind  # "session" | "not_found" | "csrf" | "disabled"
        self.locale = locale


@dataclass
class PortalVisit:
    db: Session
    runtime: Runtime
    portal_session: PortalSession
    customer: Customer
    configuration: PortalConfiguration
    locale: str
    real_now: int

    @property
    def now(self) -> int:
        """The customer's time (their test clock's, if they are on one)."""
        return object_now(self.db, self.real_now, self.customer.test_clock_id)

    @property
    def csrf(self) -> str:
        return csrf_token(self.runtime.settings.resolved_secret_key(), self.portal_session.id)

    def check_csrf(self, form: dict[str, Any]) -> None:
        if not csrf_valid(
            self.runtime.settings.resolved_secret_key(),
            self.portal_session.id,
            str(form.get("csrf_token") or ""),
        ):
            raise PortalPageError(403, "csrf", self.locale)

    @property
    def features(self) -> dict[str, Any]:
        return dict(self.configuration.features or {})

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.configuration.tenure or {})

    @property
    def return_url(self) -> str | None:
        return self.portal_session.return_url or self.configuration.default_return_url


def request_locale(request: Request) -> str:
    """The visitor's language as far as the request tells: the customer's once their visit has been
    looked up, else the browser's."""
    known: str | None = getattr(request.state, "portal_locale", None)
    if known:
        return known
    return negotiate(
        session_locale=None, preferred=None, accept_language=request.headers.get("accept-language")
    )


def _look_up(request: Request, runtime: Runtime, db: Session) -> PortalVisit:
    token = request.cookies.get(COOKIE)
    fallback_locale = request_locale(request)
    if not token:
        raise PortalPageError(401, "session", fallback_locale)
    now = runtime.clock.now()
    portal_session = db.scalar(
        select(PortalSession).where(PortalSession.browser_token_hash == hash_token(token))
    )
    if portal_session is None or (portal_session.browser_expires_at or 0) <= now:
        raise PortalPageError(401, "session", fallback_locale)
    customer = db.scalar(select(Customer).where(Customer.id == portal_session.customer_id))
    configuration = db.scalar(
        select(PortalConfiguration).where(PortalConfiguration.id == portal_session.configuration_id)
    )
    if customer is None or customer.deleted or configuration is None:
        raise PortalPageError(401, "session", fallback_locale)
    locale = negotiate(
        session_locale=portal_session.locale,
        preferred=list(customer.preferred_locales or []),
        accept_language=request.headers.get("accept-language"),
    )
    request.state.portal_locale = locale  # for an error page after this point (`errors.status_page`)
    return PortalVisit(
        db=db,
        runtime=runtime,
        portal_session=portal_session,
        customer=customer,
        configuration=configuration,
        locale=locale,
        real_now=now,
    )


def portal_visit(request: Request) -> Iterator[PortalVisit]:
    """For a page that only reads: the lookups and the whole page in one read phase."""
    runtime: Runtime = request.app.state.runtime
    with runtime.read_session() as db:
        yield _look_up(request, runtime, db)


def writing_portal_visit(request: Request) -> Iterator[PortalVisit]:
    """For a page that writes: the lookups in a read phase (an expired or forged cookie never waits
    for the write lock), then `db` is the write phase's session, which waits for its turn to write at
    its first statement (after the CSRF check). The portal session, customer and configuration stay
    as the lookups read them, not to be changed: a write re-reads in `db` what it depends on (the
    subscription `FOR UPDATE`, the customer through its service)."""
    runtime: Runtime = request.app.state.runtime
    with runtime.read_session() as lookups:
        visit = _look_up(request, runtime, lookups)
        lookups.commit()  # the read transaction ends here, not with the page
        with runtime.sessionmaker() as db:
            yield replace(visit, db=db)
        lookups.flush()  # refused (ReadPhaseWrite) if the page changed what the lookups read


# Closed when the route returns (scope="function"), before the response is sent: a write phase that
# ends without a commit gives its turn back then, not after the client has read the answer.
Visit = Annotated[PortalVisit, Depends(portal_visit, scope="function")]
WritingVisit = Annotated[PortalVisit, Depends(writing_portal_visit, scope="function")]


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form as a plain dict (parsed here so that page routes can stay synchronous)."""
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


Form = Annotated[dict[str, Any], Depends(form_data)]
