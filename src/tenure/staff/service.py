"""Staff accounts for the dashboard; passwords hashed with argon2."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.ids import new_id
from tenure.staff.models import StaffRole, StaffUser

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_staff(session: Session, *, email: str, password: str, role: StaffRole, now: int) -> StaffUser:
    """Create a staff account, or reset the password and role of an existing one."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise InvalidRequest("Invalid email address.", param="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters.", param="password"
        )
    user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    if user is None:
        user = StaffUser(id=new_id("staff"), created=now, email=email, password_hash="", role=role)
        session.add(user)
    user.password_hash = _hasher.hash(password)
    user.role = role
    session.flush()
    return user


def verify_password(user: StaffUser, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
