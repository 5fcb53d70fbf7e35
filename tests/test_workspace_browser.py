"""The workspace in a real browser (Playwright + Debian Chromium, WebGL in software): search with and without
accents, a unit's panel against the OGC API, a weight moved by keyboard against the `priority` process, a plan
against the `plan` process, two scenarios, the XLSX export read back, the shared address reopened, bad input in
place, keyboard use and labels checked by axe-core, the page opened again without a connection (service worker);
no request leaves the machine.

Screenshots go to ATLAS_SCREENSHOT_DIR when it is set (docs/img in the README).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openpyxl import load_workbook

from tests.conftest import Built, LiveServer
from tests.test_maps import CHROMIUM, NO_CHROMIUM
from tests.test_workspace import NO_NPM, NODE_MODULES, workspace_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or ""),
    pytest.mark.skipif(NO_NPM is not None, reason=NO_NPM or ""),
]
ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
MUONG_LEO = "04240"


@pytest.fixture(scope="module")
def server(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(built.path, env=workspace_env(built, tmp_path_factory, ATLAS_PROCESS_WORKERS="2")) as live:
        yield live


class Browser:
    """A Chromium page that records every request and refuses any to another host than the atlas."""

    def __init__(self, playwright: Any, url: str) -> None:
        self.url = url
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self.context = self.browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.requests: list[tuple[str, str]] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        host = urlsplit(url).netloc

        def route(r: Any) -> None:
            parts = urlsplit(r.request.url)
            if parts.scheme in ("http", "https") and parts.netloc != host:
                self.outside.append(r.request.url)
                r.abort()
                return
            r.continue_()

        self.context.route("**/*", route)
        self.context.on("request", lambda req: self.requests.append((req.method, req.url)))

    def open(self, query: str = "") -> Any:
        """A new page on /app with a query, once its data and first map are there."""
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(f"{self.url}/app{query}")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        page.wait_for_selector("body[data-map-ready='1']", timeout=60_000)
        return page

    def close(self) -> None:
        """Close the browser."""
        self.browser.close()


def _ranking_order(page: Any) -> list[str]:
    return page.eval_on_selector_all("#ranking tbody tr", "rows => rows.map(r => r.dataset.unit)")


def _shot(page: Any, name: str, folder: Path) -> None:
    """A screenshot once the map has stopped moving and drawn its tiles."""
    page.wait_for_timeout(100)  # a flight asked for has started
    page.wait_for_function(
        "window.atlasMap && !window.atlasMap.isMoving() && window.atlasMap.areTilesLoaded()", timeout=60_000
    )
    page.screenshot(path=str(folder / name))


def test_workspace_in_a_browser(server: LiveServer, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("ATLAS_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    api = httpx.Client(base_url=server.url, timeout=120)
    with sync_playwright() as p:
        browser = Browser(p, server.url)
        try:
            page = browser.open()
            assert page.inner_text("h1") == "Bàn làm việc quy hoạch – Atlas nghèo Sơn La"
            assert page.is_visible("#demo")  # demo data says so

            # search without accents, by keyboard: a pre-merger commune, and where it is now
            page.focus("#search")
            page.keyboard.type("chieng noi")
            page.wait_for_selector("#search-results li[data-i]")
            assert "Xã Chiềng Nơi" in page.inner_text("#search-results li[data-i='0']")
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelector('#unit-name')?.textContent === 'Xã Phiêng Cằm'")
            assert "là một phần của Xã Phiêng Cằm từ 01/7/2025" in page.inner_text("#notice")
            assert "unit=04144" in page.url

            # with accents: Mường Lèo, and its panel against the OGC API
            page.fill("#search", "Mường Lèo")
            page.wait_for_selector("#search-results li[data-i='0']:has-text('Xã Mường Lèo')")
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelector('#unit-name')?.textContent === 'Xã Mường Lèo'")
            ogc = api.get(f"/ogc/collections/indicators_units_2025/items/{MUONG_LEO}", params={"f": "json"}).json()
            for field in ("households", "poor_households", "poor_rate", "near_poor_households", "near_poor_rate"):
                shown = page.get_attribute(f"#pane-unit td[data-field='{field}']", "data-value")
                assert float(shown) == pytest.approx(ogc["properties"][field]), field
            ranked = api.get(f"/ogc/collections/priority_units_2025/items/{MUONG_LEO}", params={"f": "json"}).json()
            assert int(page.get_attribute("#unit-rank", "data-value")) == ranked["properties"]["rank"]
            assert page.locator("#pane-unit svg.chart circle").count() == 6  # 2021 … 2026
            page.wait_for_selector("#unit-villages table")
            _shot(page, "workspace-unit.png", shots)

            # a weight moved with the keyboard re-ranks through the priority process
            page.click("#tab-rank")
            before = _ranking_order(page)
            page.focus("#w-poor_rate")
            page.keyboard.press("End")  # 1.0
            page.wait_for_selector("body[data-ranked]")
            assert page.input_value("#w-poor_rate") == "1"
            weights = {c: float(page.input_value(f"#w-{c}")) for c in _criteria(page)}
            quick = {"weights": weights, "draws": 0, "geometry": False}
            expected = api.post("/ogc/processes/priority/execution", json={"inputs": quick}).json()
            order = [f["properties"]["unit_code"] for f in sorted(
                expected["ranking"]["features"], key=lambda f: f["properties"]["rank"])]  # fmt: skip
            assert _ranking_order(page) == order != before
            assert page.locator(".moved li").count() > 0
            assert "w=poor_rate%3A1" in page.url or "w=poor_rate:1" in page.url
            timings = page.evaluate("window.atlasTimings")
            assert timings["rerank"] and timings["firstMap"] > 0

            # bad input in place: nothing is sent
            plans_before = sum(1 for m, u in browser.requests if m == "POST" and "/processes/plan/" in u)
            page.fill("#budget", "năm mươi")
            page.click("#run-plan")
            error = page.inner_text("#budget-error")
            assert "không phải là số" in error and "is not a number" in error
            assert page.get_attribute("#budget", "aria-invalid") == "true"
            assert sum(1 for m, u in browser.requests if m == "POST" and "/processes/plan/" in u) == plans_before

            # a plan, checked against the plan process
            page.fill("#budget", "50")
            page.fill("#r3", "60")
            page.click("#run-plan")
            page.wait_for_selector("body[data-planned='1']", timeout=120_000)
            direct = api.post(
                "/ogc/processes/plan/execution",
                json={"inputs": {"budget": 50e9, "min_region_iii_share": 0.6, "next_best": 10}},
            ).json()["totals"]
            shown_served = float(page.get_attribute("#plan-totals [data-field='households_served']", "data-value"))
            assert shown_served == pytest.approx(direct["households_served"])
            assert float(page.get_attribute("#plan-totals [data-field='cost_vnd']", "data-value")) <= 50e9
            rows = page.locator("#plan-table tbody tr").count()
            assert rows == int(page.get_attribute("#plan-totals [data-field='projects']", "data-value")) > 0
            assert page.locator("#next-best tbody tr").count() == 10
            page.click("#keep-a")
            page.fill("#budget", "80")
            page.click("#run-plan")
            page.wait_for_selector("body[data-planned='2']", timeout=120_000)
            page.click("#keep-b")
            compare = page.inner_text("#compare")
            assert "50" in compare and "80" in compare
            _shot(page, "workspace-plan.png", shots)

            # the table as XLSX, read back
            with page.expect_download() as download:
                page.click("[data-export='plan-xlsx']")
            book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
            sheet = list(book.worksheets[0].iter_rows(values_only=True))
            assert (
                sheet[0][:3] == ("Mã dự án", "Dự án", "Loại")
                and len(sheet) - 1 == page.locator("#plan-table tbody tr").count()
            )
            with page.expect_download() as download:
                page.click("[data-export='rank-csv']")
            assert Path(download.value.path()).read_bytes().startswith(b"\xef\xbb\xbf")

            # the address, sent to a colleague, opens the same view
            shared = urlsplit(page.url).query
            page.click("#lang")
            assert page.inner_text("h1") == "Planning workspace – Sơn La Poverty Atlas"
            assert page.evaluate("document.documentElement.lang") == "en"
            again = browser.open("?" + shared)
            again.wait_for_selector("body[data-planned='1']", timeout=120_000)
            assert again.inner_text("#unit-name") == "Xã Mường Lèo"
            assert again.input_value("#w-poor_rate") == "1" and again.input_value("#budget") == "80"
            again.click("#tab-rank")
            again.wait_for_selector("body[data-ranked]")
            assert _ranking_order(again) == order

            # accessibility: axe-core finds nothing on the page with its panels open
            for view in (page, again):
                view.add_script_tag(path=str(NODE_MODULES / "axe-core" / "axe.min.js"))
                found = view.evaluate(
                    "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']}))"
                    ".violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
                )
                assert found == [], found

            # without a connection, the service worker opens the page, its data and tiles from what it kept
            browser.context.set_offline(True)
            offline = browser.open(f"?unit={MUONG_LEO}")
            offline.wait_for_selector("#unit-villages table")
            assert offline.inner_text("#unit-name") == "Xã Mường Lèo"
            browser.context.set_offline(False)

            # a wrong address says so in place and the page keeps working
            wrong = browser.open("?unit=99999&w=poor_rate:7,bogus:1&ind=nope&year=1999")
            message = wrong.inner_text("#notice")
            for part in ("99999", "từ 0 đến 1", "bogus", "nope", "1999", "No 2025 unit"):
                assert part in message, part
            assert wrong.input_value("#indicator") == "poor_rate"
            _shot(wrong, "workspace-bad-address.png", shots)
            wrong.fill("#search", "phieng cam")
            wrong.wait_for_selector("#search-results li[data-i]")
            wrong.keyboard.press("Enter")
            wrong.wait_for_function("document.querySelector('#unit-name')?.textContent === 'Xã Phiêng Cằm'")

            assert browser.outside == [], browser.outside
            assert browser.errors == [], browser.errors
            statuses = [r for r in browser.requests if urlsplit(r[1]).path.startswith("/app/vendor/")]
            assert statuses  # MapLibre came from the atlas
        finally:
            browser.close()
            api.close()


def _criteria(page: Any) -> list[str]:
    return page.eval_on_selector_all("#weights input[type=range]", "inputs => inputs.map(i => i.dataset.id)")
