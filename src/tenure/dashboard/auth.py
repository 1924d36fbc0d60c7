"""Staff sign-in: password check, throttling of failures, and the sessions behind the dashboard cookie.

Throttling: at most 5 failed sign-ins per address and email, and 20 per address, within 15 minutes;
past that every attempt (even with the right password) is refused until the window has moved on.
A wrong password and an unknown email take the same path (a password hash is verified either way)
and read the same. Only hashes of the email and address are kept, only for the window.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tenure.dashboard.models import SignInFailure, StaffSession
from tenure.ids import new_id
from tenure.staff.models import StaffUser
from tenure.staff.service import normalize_email, verify_password
from tenure.web.security import hash_token, new_token

SESSION_SECONDS = 8 * 3600  # a working day; signing in again is cheap
THROTTLE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5  # per address and email
MAX_FAILURES_PER_ADDRESS = 20  # per address, whatever the email (spraying many accounts)
MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class SignInResult:
    staff: StaffUser | None = None
    token: str | None = None  # the cookie's value, returned once
    retry_after: int | None = None  # seconds, when throttled

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


@cache
def _decoy_hash() -> str:
    """A real argon2 hash to verify against when the email is unknown, so both paths cost the same."""
    return PasswordHasher().hash(new_token())


def _keys(address: str, email: str) -> tuple[str, str]:
    return hash_token(f"{address}|{email}"), hash_token(address)


def throttle_wait(session: Session, *, address: str, email: str, now: int) -> int | None:
    """Seconds until another attempt is allowed, or None when the attempt may go ahead."""
    pair_key, address_key = _keys(address, normalize_email(email))
    since = now - THROTTLE_WINDOW_SECONDS
    waits: list[int] = []
    for column, key, limit in (
        (SignInFailure.pair_key, pair_key, MAX_FAILURES_PER_ACCOUNT),
        (SignInFailure.address_key, address_key, MAX_FAILURES_PER_ADDRESS),
    ):
        times = list(
            session.scalars(
                select(SignInFailure.created)
                .where(column == key, SignInFailure.created > since)
                .order_by(SignInFailure.created.desc())
                .limit(limit)
            )
        )
        if len(times) >= limit:
            # Allowed again once the oldest of the last `limit` failures leaves the window.
            waits.append(max(times[-1] + THROTTLE_WINDOW_SECONDS - now, 1))
    return max(waits) if waits else None


def sign_in(session: Session, *, email: str, password: str, address: str, now: int) -> SignInResult:
    """Check the credentials (unless throttled); on success open a session. Failures are recorded."""
    email = normalize_email(email)[:MAX_EMAIL_LENGTH]
    password = password[:MAX_PASSWORD_LENGTH]
    wait = throttle_wait(session, address=address, email=email, now=now)
    if wait is not None:
        return SignInResult(retry_after=wait)
    staff = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email)) if email else None
    if staff is None:
        _verify_decoy(password)
        ok = False
    else:
        ok = verify_password(staff, password)
    pair_key, address_key = _keys(address, email)
    if not ok:
        session.execute(delete(SignInFailure).where(SignInFailure.created <= now - THROTTLE_WINDOW_SECONDS))
        session.add(SignInFailure(pair_key=pair_key, address_key=address_key, created=now))
        session.flush()
        return SignInResult()
    assert staff is not None
    session.execute(delete(SignInFailure).where(SignInFailure.pair_key == pair_key))
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    token = new_token()
    session.add(
        StaffSession(
            id=new_id("stfsess"),
            staff_id=staff.id,
            token_hash=hash_token(token),
            created=now,
            expires_at=now + SESSION_SECONDS,
        )
    )
    session.flush()
    return SignInResult(staff=staff, token=token)


def _verify_decoy(password: str) -> None:
    with suppress(VerificationError, InvalidHashError):  # a mismatch: only the time spent matters
        PasswordHasher().verify(_decoy_hash(), password)


def resolve_session(
    session: Session, token: str | None, *, now: int
) -> tuple[StaffSession, StaffUser] | None:
    """The live session behind a cookie and its staff account, or None."""
    if not token:
        return None
    found = session.scalar(select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
    if found is None or found.expires_at <= now:
        return None
    staff = session.scalar(select(StaffUser).where(StaffUser.id == found.staff_id))
    if staff is None:
        return None
    return found, staff


def sign_out(session: Session, staff_session: StaffSession) -> None:
    session.execute(delete(StaffSession).where(StaffSession.pk == staff_session.pk))
    session.flush()
