"""The webhook receiver both Tenure and the floor post to: reads the body, answers 200 `ok`.

`uvicorn bench.floors.receiver:app --http httptools --loop uvloop` (one process); `GET /count`
tells how many POSTs it has taken, to check that every delivery arrived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

received = 0


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    global received
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        received += 1
        body = b"ok"
    else:
        body = str(received).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
