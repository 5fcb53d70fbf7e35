"""PNG raster tiles behind one interface: a choropleth of a vector layer, and the WorldPop population grid.

Each raster layer names its kind of source (a RasterSource, as rio-tiler's BaseReader): ChoroplethSource
rasterises a layer's polygons (rasterio.features.rasterize) at 2x the output size in the colours of a scale and
averages them down for anti-aliased edges; PopulationSource reads the population raster with rio-tiler.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import morecantile
import numpy as np
import shapely

from layers.palette import CHOROPLETH_EDGE, POPULATION_COLOURS, POVERTY_RATE, PRIORITY_TIER, ColourScale, hex_to_rgba
from layers.tiles.grid import MAX_ZOOM, TILE_SIZE, TMS, TileError
from layers.tiles.vector import VectorLayer

SUPERSAMPLE = 2  # raster tiles are drawn at 2x and averaged down (anti-aliasing)


class TileInputs(Protocol):
    """What raster sources are opened on: the tiled vector layers and the population raster (a Tiler)."""

    population: Path | None

    def vector_layer(self, layer_id: str) -> VectorLayer:
        """The tiling state of a spatial layer."""
        ...


class RasterSource(ABC):
    """One kind of raster tile source: opened for a raster layer, it draws PNG tiles by address."""

    @classmethod
    @abstractmethod
    def open(cls, layer: RasterLayer, inputs: TileInputs) -> RasterSource:
        """The source of a raster layer; TileError when its data is not available."""

    @classmethod
    def available(cls, inputs: TileInputs) -> bool:
        """Whether the data this kind of source reads is there."""
        return True

    @abstractmethod
    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The PNG of one tile, or None when nothing is drawn in it."""


@dataclass(frozen=True)
class RasterLayer:
    """A raster tile layer: its titles, the kind of source drawing it, and what that source reads."""

    id: str
    title_vi: str
    title_en: str
    reader: type[RasterSource]
    vector: str | None = None  # the vector layer a choropleth colours
    scale: ColourScale | None = None
    synthetic: bool = False


class ChoroplethSource(RasterSource):
    """A vector layer's polygons coloured by a colour scale, outlined, edges anti-aliased."""

    def __init__(self, layer: VectorLayer, scale: ColourScale) -> None:
        self.layer = layer
        self.scale = scale

    @classmethod
    def open(cls, layer: RasterLayer, inputs: TileInputs) -> ChoroplethSource:
        """The choropleth of the raster layer's vector layer in its scale."""
        if layer.vector is None or layer.scale is None:
            raise TileError(f"raster layer {layer.id!r} names no vector layer and scale to draw")
        return cls(inputs.vector_layer(layer.vector), layer.scale)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The PNG of one tile, or None when no polygon covers it."""
        return choropleth_tile(self.layer, self.scale, z, x, y)


class PopulationSource(RasterSource):
    """The WorldPop 2020 population raster, persons per ~1 km cell on a log scale."""

    def __init__(self, raster: Path) -> None:
        self.raster = raster

    @classmethod
    def open(cls, layer: RasterLayer, inputs: TileInputs) -> PopulationSource:
        """The population raster the tiler was given; TileError when there is none."""
        if inputs.population is None:
            raise TileError("the population raster is not available")
        return cls(inputs.population)

    @classmethod
    def available(cls, inputs: TileInputs) -> bool:
        """Whether the tiler was given the population raster."""
        return inputs.population is not None

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The PNG of one tile, or None outside the raster."""
        return population_tile(self.raster, z, x, y)


RASTER_LAYERS: tuple[RasterLayer, ...] = (
    RasterLayer(
        "poverty_rate_units_2025",
        "Tỷ lệ hộ nghèo – xã, phường 2025 (minh họa)",
        "Poverty rate – 2025 units (demo data)",
        ChoroplethSource,
        "indicators_units_2025",
        POVERTY_RATE,
        synthetic=True,
    ),
    RasterLayer(
        "poverty_rate_communes_2024",
        "Tỷ lệ hộ nghèo – xã trước sáp nhập (minh họa)",
        "Poverty rate – pre-merger communes (demo data)",
        ChoroplethSource,
        "indicators_communes_2024",
        POVERTY_RATE,
        synthetic=True,
    ),
    RasterLayer(
        "priority_tier_units_2025",
        "Mức ưu tiên – xã, phường 2025 (minh họa)",
        "Priority tier – 2025 units (demo data)",
        ChoroplethSource,
        "priority_units_2025",
        PRIORITY_TIER,
        synthetic=True,
    ),
    RasterLayer("population", "Dân số WorldPop 2020", "Population, WorldPop 2020", PopulationSource),
)


def raster_layer(layer_id: str) -> RasterLayer:
    """The raster layer of an id; TileError naming the raster layers when there is none."""
    for layer in RASTER_LAYERS:
        if layer.id == layer_id:
            return layer
    raise TileError(f"no raster tiles for {layer_id!r}; one of {', '.join(r.id for r in RASTER_LAYERS)}")


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def choropleth_tile(layer: VectorLayer, scale: ColourScale, z: int, x: int, y: int) -> bytes | None:
    """A PNG of the layer's polygons coloured by the scale, edges anti-aliased, or None when empty."""
    from PIL import Image
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds

    bounds = TMS.xy_bounds(morecantile.Tile(x, y, z))
    frame = (bounds.left, bounds.bottom, bounds.right, bounds.top)
    hits = layer.tree.query(shapely.box(*frame))
    if len(hits) == 0:
        return None
    size = TILE_SIZE * SUPERSAMPLE
    pad = (bounds.right - bounds.left) / TILE_SIZE
    geoms = shapely.clip_by_rect(
        layer.geometries_at(min(z + 2, MAX_ZOOM))[hits], frame[0] - pad, frame[1] - pad, frame[2] + pad, frame[3] + pad
    )
    keep = ~shapely.is_empty(geoms)
    if not keep.any():
        return None
    values = np.array([layer.properties[i].get(scale.field, np.nan) for i in hits[keep]], dtype="float64")
    classes = scale.classify(values)
    # one rasterisation: each feature burns (its number << 4) | its palette index (0 outside, 1 no data)
    shapes = [(g, ((k + 1) << 4) | (int(c) + 2)) for k, (g, c) in enumerate(zip(geoms[keep], classes, strict=True))]
    grid = rasterize(shapes, out_shape=(size, size), transform=from_bounds(*frame, size, size), fill=0, dtype="uint32")
    # outlines: pixels on either side of a change of feature, inside a feature
    edge = np.zeros((size, size), dtype=bool)
    for changed, before, after in (
        (grid[:, 1:] != grid[:, :-1], (slice(None), slice(1, None)), (slice(None), slice(None, -1))),
        (grid[1:, :] != grid[:-1, :], (slice(1, None), slice(None)), (slice(None, -1), slice(None))),
    ):
        edge[before] |= changed
        edge[after] |= changed
    index = (grid & 15).astype("uint8")
    outline = len(scale.colours) + 2
    index[edge & (index > 0)] = outline
    palette = [(0, 0, 0, 0), hex_to_rgba(scale.no_data, 220), *(hex_to_rgba(c, 220) for c in scale.colours)]
    palette.append(hex_to_rgba(CHOROPLETH_EDGE))
    image = Image.frombuffer("P", (size, size), index.tobytes(), "raw", "P", 0, 1)
    image.putpalette([v for colour in palette for v in colour], rawmode="RGBA")
    # Pillow box-averages RGBA in premultiplied form over SUPERSAMPLE x SUPERSAMPLE blocks: anti-aliased edges
    image = image.convert("RGBA").resize((TILE_SIZE, TILE_SIZE), Image.Resampling.BOX)
    if image.getbbox(alpha_only=True) is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def population_tile(raster: Path, z: int, x: int, y: int) -> bytes | None:
    """A PNG of WorldPop 2020 population per ~1 km cell (log scale), or None outside the raster."""
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    try:
        with Reader(str(raster)) as src:
            img = src.tile(x, y, z, tilesize=TILE_SIZE, resampling_method="nearest")
    except TileOutsideBounds:
        return None
    data = img.data[0].astype("float64")
    valid = ~np.ma.getmaskarray(img.array[0]) & (data > 0)
    if not valid.any():
        return None
    level = np.clip(np.log10(np.maximum(data, 1)) / 4.0, 0, 0.999)  # 1 .. 10,000 persons per cell
    palette = np.array([hex_to_rgba(c, 210) for c in POPULATION_COLOURS], dtype="uint8")
    rgba = palette[(level * len(POPULATION_COLOURS)).astype(int)]
    rgba[~valid] = 0
    return _png(rgba)
