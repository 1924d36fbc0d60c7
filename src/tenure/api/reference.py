"""`/docs`: the API reference (Swagger UI over `/openapi.json`), under the same headers as every page.

FastAPI's own page starts Swagger UI with an inline script, which the CSP forbids; here the start
is a static file. Swagger UI itself is loaded from its CDN (pinned): nothing else loads from
outside, and only this page allows that host.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tenure.web.security import apply_security_headers

router = APIRouter(include_in_schema=False)
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tenure API reference</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec="/openapi.json"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="/static/api-reference.js"></script>
</body>
</html>
"""


@router.get("/docs")
def api_reference(request: Request) -> HTMLResponse:
    response = HTMLResponse(PAGE)
    apply_security_headers(request, response, extra_sources=("https://cdn.jsdelivr.net",))
    return response
