"""A customer's visit to the portal: the browser session behind the cookie, the customer, the
configuration and the language. Every page route starts from a `PortalVisit`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
    return negotiate(
        session_locale=None, preferred=None, accept_language=request.headers.get("accept-language")
    )


def portal_visit(request: Request) -> Iterator[PortalVisit]:
    runtime: Runtime = request.app.state.runtime
    token = request.cookies.get(COOKIE)
    fallback_locale = request_locale(request)
    if not token:
        raise PortalPageError(401, "session", fallback_locale)
    with runtime.sessionmaker() as db:
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
        yield PortalVisit(
            db=db,
            runtime=runtime,
            portal_session=portal_session,
            customer=customer,
            configuration=configuration,
            locale=locale,
            real_now=now,
        )


Visit = Annotated[PortalVisit, Depends(portal_visit)]


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form as a plain dict (parsed here so that page routes can stay synchronous)."""
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


Form = Annotated[dict[str, Any], Depends(form_data)]
