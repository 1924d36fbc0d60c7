"""The dashboard's fixtures (staff accounts, signed-in clients, a business made through the API)."""

from __future__ import annotations

from tests.dashboard.conftest import admin, analyst, business, staff  # noqa: F401  (fixtures)
