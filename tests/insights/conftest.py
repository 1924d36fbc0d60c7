from tests.dashboard.conftest import admin, analyst, staff
from tests.subscriptions.conftest import catalog

__all__ = ["admin", "analyst", "catalog", "staff"]
