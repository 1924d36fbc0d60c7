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
