"""The playground: a page at `/` (and `/playground`) that tries every capability.

Static files shipped in the package (`audio/playground/`), no build step, nothing from
another origin: the page's Content-Security-Policy allows only this origin (and the
`blob:` URLs the page makes of its own audio), so it works offline and a script
injected into it could not phone home. The API never depends on the page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "playground"
STATIC_PATH = "/playground/static"
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip
"""Only this origin. `connect-src 'self'` covers the realtime WebSocket on the same host
(CSP 3 matches ws:/wss: to 'self'); `blob:` is the page's own recorded or received audio."""
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/playground")
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


def install(app: FastAPI) -> None:
    """The page and its files (scripts, styles, the audio worklet)."""
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="playground")
