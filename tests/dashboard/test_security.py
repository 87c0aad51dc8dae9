"""The dashboard only reads: a hostile serial is shown as text, bad parameters are refused, nothing writes."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from bench.store import load_results

from .conftest import HOSTILE_LOT, HOSTILE_SERIAL


def _status(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request) as response:  # the test's own server on 127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_hostile_serial_and_lot_are_shown_as_text(page, dashboard_url, screenshot):
    page.goto(f"{dashboard_url}/serial?{urlencode({'serial': HOSTILE_SERIAL})}")
    assert page.inner_text("#title") == f"Serial {HOSTILE_SERIAL}"
    assert HOSTILE_LOT in page.inner_text("section.attempt")
    assert page.locator("script").count() == 0
    assert page.locator("main img").count() == 0
    screenshot(page, "hostile-serial")
    page.goto(f"{dashboard_url}/lot?{urlencode({'name': HOSTILE_LOT})}")
    assert page.inner_text("#title") == f"Lot {HOSTILE_LOT}"
    assert page.locator("#cables a.serial").inner_text() == HOSTILE_SERIAL
    page.goto(f"{dashboard_url}/")  # the plant page lists the hostile lot among today's
    assert HOSTILE_LOT in page.inner_text("#lots")
    assert page.dialogs == []
    status, html = _status(f"{dashboard_url}/serial?{urlencode({'serial': HOSTILE_SERIAL})}")
    assert status == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and HOSTILE_SERIAL not in html


def test_pages_forbid_inline_scripts(dashboard_url):
    request = urllib.request.Request(f"{dashboard_url}/")
    with urllib.request.urlopen(request) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy


@pytest.mark.parametrize(("query", "words"), [
    ("/lot?name=LOT-B&extra=1", "unknown parameter 'extra'"),
    ("/lot?name=LOT-B&name=LOT-A", "given twice"),
    ("/lot", "parameter 'name' (the lot) is missing"),
    ("/lot?name=%1b%5b2J", "control character"),
    ("/serial?serial=" + "X" * 65, "at most 64"),
    ("/?day=2026-13-01", "YYYY-MM-DD"),
    ("/certificate?serial=MTP12-300000&attempt=-1", "whole number"),
    ("/spc?product=MTP12-TREND&wavelength_nm=1e9&position=5", "wavelength in nm"),
    ("/spc?product=MTP12-TREND&baseline=2", "from 5 to 1000"),
])
def test_bad_parameters_are_refused_with_the_parameter_named(dashboard_url, query, words):
    status, html = _status(f"{dashboard_url}{query}")
    assert status == 400
    assert words in html.replace("&#39;", "'")


@pytest.mark.parametrize("query", ["/serial?serial=NO-SUCH", "/lot?name=NO-SUCH", "/station?name=NO-SUCH",
                                   "/spc?product=NO-SUCH", "/certificate?serial=NO-SUCH&attempt=1"])
def test_unknown_names_are_not_found(dashboard_url, query):
    assert _status(f"{dashboard_url}{query}")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_there_is_no_write_path(dashboard_url, filled_store, method):
    before = len(load_results(filled_store.path).cables)
    for path in ("/", "/lot?name=LOT-B", "/serial?serial=MTP12-300000", "/certificate?serial=MTP12-300000&attempt=1"):
        assert _status(f"{dashboard_url}{path}", method)[0] == 405
    assert len(load_results(filled_store.path).cables) == before
