"""The map backend: web maps and printed sheets of one warehouse, made on demand and kept per build,
and the batch writer behind `atlas maps` and `atlas print --all` (parallel over the machine's cores)."""

from __future__ import annotations

import datetime as dt
import html
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

from geo.atomic import atomic_write
from layers.lru import LRU
from layers.mapdata import MapData, MapError, Scope, map_data_for
from layers.printmap import FORMER, PrintOptions, former_area_options, render_print_map
from layers.store import Warehouse
from layers.webmap import render_web_map


class MapBackend(ABC):
    """Where the server's maps come from."""

    @abstractmethod
    def scopes(self) -> list[Scope]:
        """Every map there is: province, former districts, 2025 units."""

    @abstractmethod
    def web(self, slug: str) -> bytes:
        """The self-contained HTML web map of a scope."""

    @abstractmethod
    def sheet(self, slug: str, options: PrintOptions) -> bytes:
        """The printable sheet (PDF or PNG) of a scope."""


class WarehouseMaps(MapBackend):
    """Maps drawn from the warehouse's current build, kept in memory up to a size (least recently used first out)."""

    def __init__(
        self,
        warehouse: Warehouse,
        max_bytes: int = 64 * 1024 * 1024,
        release: Callable[[], dict[str, object] | None] = lambda: None,
    ) -> None:
        self.warehouse = warehouse
        self.release = release  # the release being served ({"number", "published_at"}), named on every map
        self._cache: LRU[bytes] = LRU(max_bytes, len)  # keyed by build: maps of an older build age out

    @property
    def data(self) -> MapData:
        """The map data of the current build."""
        return map_data_for(self.warehouse)

    def _get(self, data: MapData, key: tuple[str, ...], make: Callable[[], bytes]) -> bytes:
        return self._cache.get_or_make((data.fingerprint, data.built_at, *key), make)

    def stats(self) -> dict[str, object]:
        """Maps kept in memory against their bound."""
        return self._cache.stats()

    def scopes(self) -> list[Scope]:
        """Every map there is."""
        return self.data.scopes()

    def _release(self) -> str:
        found = self.release()
        return f"{found['number']}, {str(found['published_at'])[:10]}" if found else ""

    def web(self, slug: str) -> bytes:
        """The web map of a scope (MapError if there is no such scope)."""
        data = self.data
        scope = data.by_slug(slug)
        release = self._release()
        return self._get(data, ("web", slug, release), lambda: render_web_map(data, scope, release))

    def sheet(self, slug: str, options: PrintOptions) -> bytes:
        """The printed sheet of a scope; with options.area_id "former", of the area of the pre-merger commune the
        slug names (unit-chieng-noi)."""
        data = self.data
        scope, place = data.resolve_slug(slug)
        if options.area_id == FORMER:
            if place is None or place.kind != "commune_2024":
                raise MapError(
                    f"former_area: {slug!r} does not name a pre-merger commune; use its name or code "
                    "(unit-chieng-noi, unit-04141)"
                )
            options = replace(options, **former_area_options(place))
        release = self._release()
        key = ("sheet", slug, dt.date.today().isoformat(), release, *(str(v) for v in asdict(options).values()))
        return self._get(data, key, lambda: render_print_map(data, scope, options, release=release))


def index_page(
    scopes: list[Scope],
    web_href: Callable[[Scope], str],
    print_hrefs: Callable[[Scope], list[tuple[str, str]]],
    synthetic: bool,
) -> str:
    """A bilingual HTML list of the maps, grouped: province, former districts, 2025 units."""
    groups = [
        ("Toàn tỉnh / province", [s for s in scopes if s.kind == "province"]),
        ("Huyện cũ (trước 1/7/2025) / former districts", [s for s in scopes if s.kind == "district"]),
        ("Xã, phường 2025 / 2025 units", [s for s in scopes if s.kind == "unit"]),
    ]
    parts = []
    for title, members in groups:
        if not members:
            continue
        items = []
        for s in members:
            prints = " · ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for t, h in print_hrefs(s))
            items.append(
                f'<li><a href="{html.escape(web_href(s))}">{html.escape(s.label_vi)}</a> '
                f'<span class="en">{html.escape(s.label_en)}</span>{" · " + prints if prints else ""}</li>'
            )
        parts.append(f"<h2>{html.escape(title)}</h2><ul>{''.join(items)}</ul>")
    notice = (
        '<p class="demo">Dữ liệu minh họa (mô phỏng), không phải số liệu chính thức / '
        "demo data (synthetic), not official figures</p>"
        if synthetic
        else ""
    )
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Bản đồ / maps – Atlas nghèo Sơn La</title>'
        "<style>body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        ".en{color:#555;font-style:italic}.demo{background:#fde2b8;padding:.3rem .6rem}li{margin:.2rem 0}</style>"
        "</head><body><h1>Bản đồ / maps</h1>" + notice + "".join(parts) + "</body></html>"
    )


# ----------------------------------------------------------------------------------------------------
# batch
# ----------------------------------------------------------------------------------------------------


def _write_one(warehouse: str, slug: str, kind: str, options: dict[str, object] | None, target: str) -> str:
    data = map_data_for(Warehouse.open(warehouse))
    scope = data.by_slug(slug)
    sheet = PrintOptions(**options) if options else None  # type: ignore[arg-type]
    body = render_web_map(data, scope) if sheet is None else render_print_map(data, scope, sheet)
    with atomic_write(Path(target)) as tmp:
        tmp.write_bytes(body)
    return target


def sheet_name(scope: Scope, options: PrintOptions) -> str:
    """File name of a printed sheet: district-125_A3_landscape_poverty.pdf (unit-04144_former-04141_… for the
    area of a pre-merger commune)."""
    area = f"_{options.area_id}" if options.area_id else ""
    return f"{scope.slug}{area}_{options.paper}_{options.orientation}_{options.indicator}.{options.format}"


def write_maps(
    warehouse: Path,
    folder: Path,
    jobs: Iterable[tuple[Scope, PrintOptions | None]],
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write web maps (options None) and printed sheets into folder, in parallel processes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tasks: list[tuple[str, str, dict[str, object] | None, str]] = []
    for scope, options in jobs:
        if options is None:
            tasks.append((scope.slug, "web", None, str(folder / f"{scope.slug}.html")))
        else:
            tasks.append((scope.slug, "sheet", asdict(options), str(folder / sheet_name(scope, options))))
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    written: list[Path] = []
    if workers == 1:
        for slug, kind, opts, target in tasks:
            written.append(Path(_write_one(str(warehouse), slug, kind, opts, target)))
            if progress:
                progress(target)
        return written
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_write_one, str(warehouse), *task) for task in tasks]
        for future in futures:
            target = future.result()
            written.append(Path(target))
            if progress:
                progress(target)
    return written
