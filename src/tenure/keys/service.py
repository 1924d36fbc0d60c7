"""Creating and checking secret API keys."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.ids import new_id, random_token
from tenure.keys.models import ApiKey

SECRET_PREFIX = "sk_test_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def redact(secret: str) -> str:
    return f"{secret[:8]}…{secret[-4:]}"


def create_key(session: Session, *, now: int, name: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; the plain secret is returned once and never stored."""
    secret = SECRET_PREFIX + random_token(32)
    key = ApiKey(
        id=new_id("ak"), created=now, name=name, secret_hash=hash_secret(secret), redacted=redact(secret)
    )
    session.add(key)
    session.flush()
    return key, secret


def find_active_key(session: Session, secret: str, *, now: int) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    return key


def get_key(session: Session, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.id == key_id))


def revoke_key(key: ApiKey, *, now: int) -> None:
    """Stop a key at once (revoking twice keeps the first date)."""
    if key.revoked_at is None:
        key.revoked_at = now


def roll_key(session: Session, key: ApiKey, *, now: int, expire_in: int = 0) -> tuple[ApiKey, str]:
    """A new key with the same name; the old one keeps working for `expire_in` seconds (deploy time)."""
    new_key, secret = create_key(session, now=now, name=key.name)
    deadline = now + max(expire_in, 0)
    if key.expires_at is None or key.expires_at > deadline:
        key.expires_at = deadline
    session.flush()
    return new_key, secret
