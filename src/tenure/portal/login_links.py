"""The portal's login page: a customer types their email and receives a one-time sign-in link.

The answer never says whether the address is known. Requests are rate limited per IP address and
per email address (attempts are stored as keyed hashes, never the address itself). A link works
once, for 30 minutes; its token is `<link id>.<HMAC of the id with the server secret>`, so nothing
secret is stored and the worker can put the link in the email it composes later.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import BigInteger, ForeignKey, Index, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenure.customers.models import Customer
from tenure.db.base import Base, PkType
from tenure.ids import new_id
from tenure.notifications.models import Kind
from tenure.notifications.outbox import queue_email
from tenure.portal.models import PortalConfiguration
from tenure.web.security import same_secret

LINK_SECONDS = 30 * 60
# At most this many requests per window: per IP address, and per email address.
IP_LIMIT, IP_WINDOW_SECONDS = 10, 15 * 60
EMAIL_LIMIT, EMAIL_WINDOW_SECONDS = 3, 60 * 60
# A shared address may belong to several customers: each gets its own link, up to this many.
MAX_ACCOUNTS_PER_EMAIL = 5


class PortalLoginLink(Base):
    __tablename__ = "portal_login_links"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    configuration_id: Mapped[str] = mapped_column(ForeignKey("portal_configurations.id", ondelete="CASCADE"))
    created: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class PortalLoginAttempt(Base):
    """One request on the login page, under each key it counts against (`ip:…`, `email:…`, hashed)."""

    __tablename__ = "portal_login_attempts"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger, index=True)

    __table_args__ = (Index("ix_portal_login_attempts_key", "key_hash", "created"),)


def _mac(secret: str, purpose: str, value: str) -> str:
    return hmac.new(secret.encode(), f"tenure {purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def link_token(secret: str, link_id: str) -> str:
    return f"{link_id}.{_mac(secret, 'portal login link', link_id)[:40]}"


def normalized_email(value: str) -> str:
    return value.strip().lower()


@dataclass(frozen=True)
class LoginRequest:
    limited: bool
    links: int  # how many links were queued (never shown to the visitor)


def _over_limit(session: Session, key_hash: str, *, limit: int, window: int, now: int) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(PortalLoginAttempt)
        .where(PortalLoginAttempt.key_hash == key_hash, PortalLoginAttempt.created > now - window)
    )
    return int(count or 0) >= limit


def request_login_link(
    session: Session,
    configuration: PortalConfiguration,
    *,
    email: str,
    client_ip: str,
    secret: str,
    now: int,
) -> LoginRequest:
    """Record the attempt; unless rate limited, queue a sign-in link to every customer with `email`."""
    _purge_expired(session, now=now)
    address = normalized_email(email)
    ip_key = _mac(secret, "login attempt", f"ip:{client_ip}")
    email_key = _mac(secret, "login attempt", f"email:{address}")
    limited = _over_limit(session, ip_key, limit=IP_LIMIT, window=IP_WINDOW_SECONDS, now=now) or _over_limit(
        session, email_key, limit=EMAIL_LIMIT, window=EMAIL_WINDOW_SECONDS, now=now
    )
    session.add_all(
        [
            PortalLoginAttempt(key_hash=ip_key, created=now),
            PortalLoginAttempt(key_hash=email_key, created=now),
        ]
    )
    if limited:
        session.flush()
        return LoginRequest(limited=True, links=0)
    customers = session.scalars(
        select(Customer)
        .where(func.lower(Customer.email) == address, Customer.deleted.is_(False))
        .order_by(Customer.pk)
        .limit(MAX_ACCOUNTS_PER_EMAIL)
    ).all()
    for customer in customers:
        link = PortalLoginLink(
            id=new_id("plink"),
            customer_id=customer.id,
            configuration_id=configuration.id,
            created=now,
            expires_at=now + LINK_SECONDS,
        )
        session.add(link)
        session.flush()
        queue_email(
            session,
            kind=Kind.PORTAL_LOGIN,
            cause_key=f"portal_login:{link.id}",
            occurred_at=now,
            customer_id=customer.id,
            data={"link": link.id, "configuration": configuration.id, "expires_at": link.expires_at},
        )
    session.flush()
    return LoginRequest(limited=False, links=len(customers))


def find_link(
    session: Session, token: str, *, secret: str, now: int, for_update: bool = False
) -> PortalLoginLink | None:
    """The unused, unexpired link a token stands for, else None."""
    link_id, _, _mac = token.partition(".")
    if not link_id or not same_secret(link_token(secret, link_id), token):
        return None
    stmt = select(PortalLoginLink).where(PortalLoginLink.id == link_id)
    if for_update:
        stmt = stmt.with_for_update()
    link = session.scalar(stmt)
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return link


def _purge_expired(session: Session, *, now: int) -> None:
    """Attempts older than the longest window, and links expired a day ago, are of no more use (a
    sign-in email still queued by then is skipped). Done on each request: they are rate limited."""
    longest = max(IP_WINDOW_SECONDS, EMAIL_WINDOW_SECONDS)
    session.execute(delete(PortalLoginAttempt).where(PortalLoginAttempt.created < now - longest))
    session.execute(delete(PortalLoginLink).where(PortalLoginLink.expires_at < now - 86_400))
