"""For tests that read what events cause (deliveries, insights rows, emails) right after a request:
an ASGI middleware that lets the event log's consumers catch up before a request is handled (for
events a test recorded directly) and once it has been handled: after the app returns, when the
request's own session is closed. A `TestClient` gets its response only then; a browser on a live
server may read the response a moment earlier, so tests that read the store right after a browser
step call `tenure.consumers.drain` themselves.

In production the embedded or stand-alone worker does this after commit, within about a second;
tests of that path (lag, crashes between commit and consumption) run without this middleware.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from tenure.runtime import Runtime


class DrainConsumers:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        await anyio.to_thread.run_sync(self._drain)
        await self.app(scope, receive, send)
        await anyio.to_thread.run_sync(self._drain)

    def _drain(self) -> Any:
        from tenure.consumers import drain

        return drain(self.runtime)
