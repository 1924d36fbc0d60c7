"""ASGI entry for multi-process serving: each process builds its runtime from `TENURE_*`."""

from __future__ import annotations

import os

from tenure.app import create_app
from tenure.config import Settings
from tenure.runtime import Runtime

runtime = Runtime.build(Settings())
app = create_app(runtime)

if os.environ.get("TENURE_EMBEDDED_WORKER", "1") == "1":
    from tenure.jobs.worker import start_in_thread

    start_in_thread(runtime)
