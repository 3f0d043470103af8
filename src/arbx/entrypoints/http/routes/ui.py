"""The web UI at ``/`` and the static assets of the UI and the API docs, all shipped inside
the package (no CDN: everything works without internet).

``/`` is one HTML page; the pages (series, data quality, backtests, optimizations,
walk-forwards, jobs, alerts, admin) are drawn in the browser by ``static/app.js`` and
``static/research.js`` from the API, signed in with the API's JWT flow (the
tokens live in the tab's sessionStorage; the password is never stored). The page hides what
the caller's permissions do not allow, and the API refuses it anyway. ``/assets/NAME`` serves
a fixed list of files: nothing else of the package can be read through it.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from litestar import Response, get
from litestar.params import FromPath

from arbx.domain.errors import NotFound
from arbx.entrypoints.http.security import public

JS: Final = "text/javascript; charset=utf-8"
CSS: Final = "text/css; charset=utf-8"
TEXT: Final = "text/plain; charset=utf-8"
HERE: Final = "arbx.entrypoints.http"
REPORTS: Final = "arbx.adapters.reports"
SWAGGER: Final = "static/vendor/swagger-ui/"

# name -> (package, file inside it, media type)
ASSETS: Final[dict[str, tuple[str, str, str]]] = {
    "app.js": (HERE, "static/app.js", JS),
    "research.js": (HERE, "static/research.js", JS),
    "app.css": (HERE, "static/app.css", CSS),
    "uplot.js": (REPORTS, "vendor/uplot/uPlot.iife.min.js", JS),
    "uplot.css": (REPORTS, "vendor/uplot/uPlot.min.css", CSS),
    "charts.js": (REPORTS, "assets/charts.js", JS),
    "uplot-LICENSE.txt": (REPORTS, "vendor/uplot/LICENSE", TEXT),
    "swagger-ui-bundle.js": (HERE, SWAGGER + "swagger-ui-bundle.js", JS),
    "swagger-ui-standalone-preset.js": (HERE, SWAGGER + "swagger-ui-standalone-preset.js", JS),
    "swagger-ui.css": (HERE, SWAGGER + "swagger-ui.css", CSS),
    "swagger-favicon.png": (HERE, SWAGGER + "favicon-32x32.png", "image/png"),
    "swagger-ui-LICENSE.txt": (HERE, SWAGGER + "LICENSE", TEXT),
    "swagger-ui-NOTICE.txt": (HERE, SWAGGER + "NOTICE", TEXT),
}


def asset_url(name: str) -> str:
    assert name in ASSETS, name
    return f"/assets/{name}"


@cache
def _read(name: str) -> bytes:
    package, path, _ = ASSETS[name]
    return (files(package) / path).read_bytes()


@get("/assets/{name:str}", guards=[public()], security=[], include_in_schema=False)
async def asset(name: FromPath[str]) -> Response[bytes]:
    if name not in ASSETS:
        raise NotFound(f"no asset {name!r}")
    return Response(
        _read(name),
        media_type=ASSETS[name][2],
        headers={"Cache-Control": "public, max-age=3600"},
    )


@get("/", guards=[public()], security=[], include_in_schema=False)
async def index() -> Response[bytes]:
    return Response(
        (files(HERE) / "static/index.html").read_bytes(),
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


ROUTES = [index, asset]
