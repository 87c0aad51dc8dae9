"""The dashboard web application: Starlette routes over the pages, GET only.

Starlette is a small, well-kept ASGI toolkit served by uvicorn; with sync endpoints it runs each
page in a thread pool, so a slow HDF5 read does not stall the server. There is no write path:
every route is GET (HEAD), and the sources open their data read-only.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bench.clock import Clock, utc_now
from bench.dashboard import pages
from bench.dashboard.site import HERE, Dashboard
from bench.dashboard.source import DashboardSource
from bench.dashboard.spc import Rule


def create_app(source: DashboardSource, *, refresh_s: int = 10, clock: Clock = utc_now,
               rules: tuple[Rule, ...] | None = None) -> Starlette:
    """The read-only dashboard of `source` (HDF5 store or fleet database)."""
    dashboard = Dashboard(source, refresh_s=refresh_s, clock=clock, rules=rules)
    routes = [Route(path, dashboard.endpoint(page), methods=["GET"]) for path, page in pages.PAGES.items()]
    routes.append(Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]))
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    app = Starlette(routes=routes)
    app.state.dashboard = dashboard
    return app


