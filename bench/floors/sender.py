"""The webhook floor: a bare httpx async sender posting the same bodies to the same receiver.

`python -m bench.floors.sender SPEC.json`, SPEC = {"url", "bodies": [str…], "concurrency"}: no
signing, no database, keep-alive connections; prints {"seconds", "sent", "failed", "peak_rss_bytes"}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.rss import own_peak_rss_bytes


async def send_all(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    queue = iter(bodies)
    failed = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def worker() -> None:
            nonlocal failed
            for body in queue:
                try:
                    response = await client.post(url, content=body, headers=headers)
                    if not 200 <= response.status_code < 300:
                        failed += 1
                except httpx.HTTPError:
                    failed += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "sent": len(bodies), "failed": failed}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    bodies = [body.encode("utf-8") for body in spec["bodies"]]
    result = asyncio.run(send_all(spec["url"], bodies, int(spec["concurrency"])))
    result["peak_rss_bytes"] = own_peak_rss_bytes()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
