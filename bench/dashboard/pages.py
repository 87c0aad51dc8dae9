"""The dashboard's pages: each validates its query, asks the data source, draws its charts.

A page function takes the `Dashboard` and the query's (name, value) pairs and returns
(template, context), (None, {"message": ...}) for "not found", or a ready Response (the PDF).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.responses import Response

from bench.dashboard import params, plots
from bench.dashboard.source import SpcProduct, SpcSeries
from bench.dashboard.spc import MIN_BASELINE, evaluate, individuals_chart

if TYPE_CHECKING:
    from bench.dashboard.site import Dashboard

Query = list[tuple[str, str]]
Page = tuple[str | None, dict[str, Any]]
DEFAULT_BASELINE = 20
DEFAULT_RECENT = 100


def plant_today(dashboard: Dashboard, query: Query) -> Page:
    given = params.only(query, ("day",))
    today = dashboard.clock().astimezone(dt.UTC).date()
    day = params.day(given, "day", today)
    view = dashboard.source.plant_day(day)
    return "today.html", {"title": f"Plant on {day.isoformat()}", "view": view, "is_today": day == today,
                          "refresh_s": dashboard.refresh_s, "shown_utc": dashboard.clock().strftime("%H:%M:%S"),
                          "previous": (day - dt.timedelta(days=1)).isoformat(),
                          "next": (day + dt.timedelta(days=1)).isoformat()}


def lot(dashboard: Dashboard, query: Query) -> Page:
    name = params.label(params.only(query, ("name",)), "name", "lot")
    view = dashboard.source.lot(name)
    if view is None:
        return None, {"message": f"no insertion-loss record of lot {name!r} in {dashboard.source.description}"}
    charts = {}
    if any(len(v) for v in view.il_by_wavelength.values()):
        charts["histograms"] = plots.il_histograms(view.il_by_wavelength, view.limit_by_wavelength)
        charts["heatmap"] = plots.position_heatmap(view.position_mean_il)
    if view.pareto:
        charts["pareto"] = plots.pareto_chart(view.pareto)
    total = sum(view.outcome_counts.values())
    return "lot.html", {"title": f"Lot {name}", "view": view, "charts": charts, "total": total,
                        "certificates": dashboard.source.serves_certificates}


def station(dashboard: Dashboard, query: Query) -> Page:
    given = params.only(query, ("name",))
    if "name" not in given:
        return "stations.html", {"title": "Stations", "names": dashboard.source.station_names()}
    name = params.label(given, "name", "station name")
    view = dashboard.source.station(name)
    if view is None:
        return None, {"message": f"no record of station {name!r} in {dashboard.source.description}"}
    drift = plots.golden_drift(view.golden_checks) if view.golden_checks else None
    today = dashboard.clock().astimezone(dt.UTC).date().isoformat()
    return "station.html", {"title": f"Station {name}", "view": view, "drift": drift, "today": today}


def serial(dashboard: Dashboard, query: Query) -> Page:
    name = params.label(params.only(query, ("serial",)), "serial", "serial number")
    view = dashboard.source.serial(name)
    if view is None:
        return None, {"message": f"no record of serial {name!r} in {dashboard.source.description}"}
    return "serial.html", {"title": f"Serial {name}", "view": view,
                           "certificates": dashboard.source.serves_certificates}


def certificate(dashboard: Dashboard, query: Query) -> Page | Response:
    given = params.only(query, ("serial", "attempt"))
    name = params.label(given, "serial", "serial number")
    attempt = params.integer(given, "attempt", None, 1, 1_000_000)
    pdf = dashboard.source.certificate_pdf(name, attempt) if dashboard.source.serves_certificates else None
    if pdf is None:
        return None, {"message": f"no measured attempt {attempt} of serial {name!r} to certify"}
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="certificate-attempt{attempt}.pdf"'})


def spc(dashboard: Dashboard, query: Query) -> Page:
    given = params.only(query, ("product", "wavelength_nm", "position", "baseline", "recent"))
    baseline = params.integer(given, "baseline", DEFAULT_BASELINE, MIN_BASELINE, 1000)
    recent = params.integer(given, "recent", DEFAULT_RECENT, 10, 5000)
    if "product" not in given:
        return "spc_products.html", {"title": "SPC", "products": dashboard.source.products()}
    name = params.label(given, "product", "product")
    chart_asked = "wavelength_nm" in given or "position" in given
    wavelength = params.wavelength(given, "wavelength_nm") if chart_asked else 0.0
    position = params.integer(given, "position", None, 1, 72) if chart_asked else 0
    product = dashboard.source.spc_product(name, baseline_cables=baseline, recent_cables=recent)
    if product is None:
        return None, {"message": f"no insertion-loss record of product {name!r}"}
    context = {"product": product, "baseline": baseline, "recent": recent}
    if chart_asked:
        series = product.series.get((wavelength, position))
        if series is None:
            return None, {"message": f"no reading of {name!r} at {wavelength:g} nm, position {position}"}
        judged = _judge(dashboard, product, series, baseline)
        svg = None
        if judged["ready"]:
            svg = plots.spc_chart(judged["chart"], judged["violations"], series.limit_db,
                                  np.array(series.recent_cable_numbers))
        return "spc_chart.html", {**context, "title": f"SPC {name} {wavelength:g} nm position {position}",
                                  "series": series, "judged": judged, "svg": svg,
                                  "rules": {rule.name: rule for rule in dashboard.rules}}
    cells = {key: _judge(dashboard, product, series, baseline) for key, series in product.series.items()}
    return "spc_product.html", {**context, "title": f"SPC {name}", "cells": cells, "rules": dashboard.rules,
                                "wavelengths": sorted({w for w, _ in cells}),
                                "positions": sorted({p for _, p in cells})}


def _judge(dashboard: Dashboard, product: SpcProduct, series: SpcSeries, baseline: int) -> dict[str, Any]:
    """One chart's verdict: enough data, the rules that fired, and whether every point is under the limit."""
    if product.cables < baseline or len(series.baseline) < MIN_BASELINE or len(series.recent) == 0:
        return {"ready": False, "observations": len(series.recent)}
    chart = individuals_chart(series.recent, series.baseline)
    violations = evaluate(dashboard.rules, chart)
    under_limit = bool(np.isfinite(series.limit_db) and (series.recent <= series.limit_db).all())
    return {"ready": True, "chart": chart, "violations": violations,
            "rules_fired": sorted({v.rule for v in violations}), "under_limit": under_limit}


PAGES = {"/": plant_today, "/lot": lot, "/station": station, "/serial": serial, "/certificate": certificate,
         "/spc": spc}
