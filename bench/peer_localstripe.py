"""Run localstripe bound to loopback: `PEER_PYTHON peer_localstripe.py PORT` (in localstripe's venv).

The same app as localstripe's `start()`, minus listening on every interface, loading the previous
run's pickle, and the access log.
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe.server import app


def main() -> None:
    port = int(sys.argv[1])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
