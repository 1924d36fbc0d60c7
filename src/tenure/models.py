"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from tenure.api.idempotency import IdempotencyRecord
from tenure.db.base import Base
from tenure.events.models import Event
from tenure.jobs.models import Job
from tenure.keys.models import ApiKey
from tenure.staff.models import StaffUser
from tenure.testclocks.models import TestClock

__all__ = ["ApiKey", "Base", "Event", "IdempotencyRecord", "Job", "StaffUser", "TestClock"]
