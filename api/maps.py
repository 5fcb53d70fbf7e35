"""Web maps and printable sheets over HTTP: /maps/ (index), /maps/{map}.html, /maps/print/{map}.pdf|png."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from layers.mapdata import MapError, Scope
from layers.maps import MapBackend, index_page
from layers.printmap import FORMER, PrintOptions

MEDIA = {"pdf": "application/pdf", "png": "image/png"}
_NUMBER = r"\s*-?\d+(\.\d+)?\s*"
BBOX = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"


def map_routes(backend: MapBackend, base_url: str, synthetic: bool) -> APIRouter:
    """Routes for the maps of one backend."""
    router = APIRouter()

    def web_href(scope: Scope) -> str:
        return f"{base_url}/maps/{scope.slug}.html"

    def print_hrefs(scope: Scope) -> list[tuple[str, str]]:
        return [
            ("PDF A3", f"{base_url}/maps/print/{scope.slug}.pdf?paper=A3&orientation=landscape"),
            ("PDF A4", f"{base_url}/maps/print/{scope.slug}.pdf?paper=A4&orientation=portrait"),
            ("PNG", f"{base_url}/maps/print/{scope.slug}.png?paper=A4&orientation=landscape"),
        ]

    @router.get("/maps/", summary="Index of the maps", response_model=None)
    def index(request: Request, f: str | None = Query(None, pattern="^(json|html)$")) -> Response:
        """Every web map and printable sheet, as HTML or JSON."""
        scopes = backend.scopes()
        if f == "json" or (f is None and "text/html" not in request.headers.get("accept", "")):
            return JSONResponse(
                {
                    "synthetic": synthetic,
                    "maps": [
                        {
                            "id": s.slug,
                            "kind": s.kind,
                            "code": s.code,
                            "title_vi": s.label_vi,
                            "title_en": s.label_en,
                            "web": web_href(s),
                            "print": dict(print_hrefs(s)),
                        }
                        for s in scopes
                    ],
                }
            )
        return HTMLResponse(index_page(scopes, web_href, print_hrefs, synthetic))

    @router.get("/maps/{slug}.html", summary="Web map", response_class=HTMLResponse)
    def web(slug: str) -> HTMLResponse:
        """The self-contained web map of the province, a former district or a 2025 unit."""
        return HTMLResponse(backend.web(slug))

    @router.get("/maps/print/{slug}.{fmt}", summary="Printable map", response_class=Response)
    def sheet(
        slug: str,
        fmt: Literal["pdf", "png"],
        paper: Literal["A4", "A3"] = "A3",
        orientation: Literal["portrait", "landscape"] = "landscape",
        indicator: Literal["poverty", "priority", "disbursement"] = "poverty",
        bbox: str | None = Query(
            None,
            description="Print this view instead of the whole map: west,south,east,north in degrees (EPSG:4326)",
            pattern=BBOX,
            examples=["103.8,21.0,104.2,21.4"],
        ),
        former_area: bool = Query(
            False,
            description="For a unit named by a pre-merger commune (unit-chieng-noi, unit-04141): that commune's "
            "area only",
        ),
    ) -> Response:
        """A printable sheet (vector PDF or PNG at 150 dpi), of the whole map or of a view (bbox)."""
        box = tuple(round(float(v), 5) for v in bbox.split(",")) if bbox else None
        if box and former_area:
            raise MapError("give bbox or former_area, not both")
        area = FORMER if former_area else ""
        options = PrintOptions(
            paper=paper,
            orientation=orientation,
            indicator=indicator,
            format=fmt,
            bbox=box,  # type: ignore[arg-type]  # four numbers: the pattern says so
            area_id=area,
        )
        body = backend.sheet(slug, options)
        view = "_view" if box else "_former-area" if former_area else ""
        name = f"{slug}_{paper}_{orientation}_{indicator}{view}.{fmt}"
        return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": f'inline; filename="{name}"'})

    return router
