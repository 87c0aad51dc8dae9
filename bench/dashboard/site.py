"""The dashboard's rendering: Jinja2 templates (autoescaped), security headers, the page-to-endpoint glue.

Jinja2 escapes every value put into a page (`autoescape=True` for every template), so serials,
lots and reasons, which are user input, are shown as text; only the server-drawn SVG charts are
inserted as markup. The Content-Security-Policy lets the browser run only our own script file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bench.clock import Clock, utc_now
from bench.dashboard.params import BadParameter
from bench.dashboard.source import DashboardSource
from bench.dashboard.spc import Rule, load_rules

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # matplotlib's SVG carries style attributes, so inline styles are allowed; scripts are not.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _link(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{path}?{query}" if query else path


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.globals["link"] = _link
    env.filters["num"] = _number
    env.filters["pct"] = _pct
    return env


class Dashboard:
    """The pages of one data source; `create_app` wraps it in a Starlette application."""

    def __init__(self, source: DashboardSource, *, refresh_s: int = 10, clock: Clock = utc_now,
                 rules: tuple[Rule, ...] | None = None) -> None:
        self.source = source
        self.refresh_s = refresh_s
        self.clock = clock
        self.rules = rules if rules is not None else load_rules()
        self.env = _environment()

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = self.env.get_template(template).render(source=self.source.description, **context)
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    def endpoint(self, page: Any) -> Any:
        """A Starlette endpoint from a page function (Dashboard, query items) → (template, context)."""
        def handle(request: Request) -> Response:
            try:
                result = page(self, list(request.query_params.multi_items()))
            except BadParameter as error:
                return self.render("error.html", 400, title="Bad request", message=str(error))
            if isinstance(result, Response):
                result.headers.update(SECURITY_HEADERS)
                return result
            template, context = result
            if template is None:
                return self.render("error.html", 404, title="Not found", message=context["message"])
            return self.render(template, **context)
        return handle
