"""`/`: a one-page dashboard of live campaign counters.

The page is static HTML with its script inline (no build step, no CDN);
it talks to /graphql like any other client.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

PAGE = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")


async def dashboard(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)
