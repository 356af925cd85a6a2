"""The studio: the web UI built from ``web/``, served at ``/studio``.

The set-up builds it into the package's ``studio_dist`` folder (``scripts/build-studio.sh``);
nothing of it is committed and nothing is fetched at run time. Hashed files under
``assets/`` are cached for a year; ``index.html`` is revalidated on every load, and answers
every client route (``/studio/p/<project>/canvas`` ...) so reloads and shared links work.
When the build is missing, every studio address answers 503 with a page that says how to
build it, and the API is unaffected.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: Where ``scripts/build-studio.sh`` (Vite's ``outDir``) puts the built studio.
STUDIO_DIST = Path(__file__).resolve().parent.parent / "studio_dist"

PREFIX = "/studio"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SHORT = "public, max-age=3600"
#: The studio talks to this server only; React Flow positions nodes with inline styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pathweaver Studio is not built</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
code{background:#f1f3f5;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>The studio is not built</h1>
<p>This server has no built studio to serve. Build it, then reload this page:</p>
<p><code>scripts/setup.sh</code> (or only the studio: <code>scripts/build-studio.sh</code>)</p>
<p>It needs Node.js and npm. The API under <code>/v1</code> works without the studio.</p>
</body></html>
"""


class StudioFiles(StaticFiles):
    """The built studio: static files, with ``index.html`` for client routes and cache headers."""

    async def check_config(self) -> None:
        # A missing build is answered per request (503), not by failing the first request.
        if self.directory is not None and await anyio.Path(self.directory).is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if self.directory is None or not await anyio.Path(self.directory, "index.html").is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
        is_index = path in ("", ".", "index.html")
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or _names_a_file(path):
                raise
            response = await super().get_response("index.html", scope)  # a client route
            is_index = True
        if is_index:
            response.headers["Cache-Control"] = REVALIDATE
            response.headers["Content-Security-Policy"] = CSP
        elif path.startswith("assets/"):
            response.headers["Cache-Control"] = IMMUTABLE  # their names carry a content hash
        else:
            response.headers["Cache-Control"] = SHORT
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _names_a_file(path: str) -> bool:
    """Whether a missing path was a file (a real 404), not a client route."""
    return path.startswith("assets/") or "." in path.rsplit("/", 1)[-1]


async def _with_slash(request: Request) -> Response:
    return RedirectResponse(request.url.replace(path=request.url.path + "/"), status_code=307)


def mount_studio(app: Starlette, directory: Path | None = None) -> None:
    """Serve the studio at ``/studio`` from ``directory`` (the package's ``studio_dist``)."""
    app.add_route(PREFIX, _with_slash, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(
        PREFIX, StudioFiles(directory=directory or STUDIO_DIST, html=True, check_dir=False), name="studio"
    )
