"""Map label glyphs as MapLibre reads them: signed distance fields of 256 code points per protobuf range.

The glyphs are drawn from DejaVu Sans (the font matplotlib ships and the printed maps use), which covers every
Vietnamese letter (Latin-1, Latin Extended-A/B, combining marks, Latin Extended Additional). Each glyph is
rendered as fontnik does: the unhinted outline at 24 px, flattened to line segments; every pixel of the glyph's
box plus a 3 px border gets its distance to the outline (negative inside), scaled by 32 per pixel, shifted by
64 and inverted, so the edge sits at 192. ``top`` is the box's top less 25, the baseline MapLibre expects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import freetype
import matplotlib
import numpy as np

from layers.errors import LayersError

SIZE = 24  # px, the size MapLibre's glyph metrics are in
BUFFER = 3  # px of border around each bitmap
RADIUS = 8  # px beyond which distances are clipped
CUTOFF = 0.25
BASELINE = 25
CURVE_STEPS = 6  # line segments per Bézier piece
MAX_CODEPOINT = 65535
FONTS_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = {
    "DejaVu Sans": FONTS_DIR / "DejaVuSans.ttf",
    "DejaVu Sans Bold": FONTS_DIR / "DejaVuSans-Bold.ttf",
}
DEFAULT_FONT = "DejaVu Sans"


class UnknownGlyphRange(LayersError):
    """A glyph range that is not 256 code points starting at a multiple of 256."""


@dataclass(frozen=True)
class Glyph:
    """One glyph's signed distance field and metrics, as in the glyphs protobuf."""

    id: int
    bitmap: bytes
    width: int
    height: int
    left: int
    top: int
    advance: int


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | int, signed: bool = False) -> bytes:
    if isinstance(payload, bytes):
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload
    value = (payload << 1) ^ (payload >> 31) if signed else payload  # zigzag for sint32
    return _varint(number << 3) + _varint(value)


def encode(fontstack: str, start: int, glyphs: list[Glyph]) -> bytes:
    """The glyphs protobuf of one range: glyphs{stacks{name, range, glyphs{id, bitmap, width, height, …}}}."""
    body = _field(1, fontstack.encode()) + _field(2, f"{start}-{start + 255}".encode())
    for g in glyphs:
        message = _field(1, g.id)
        if g.bitmap:
            message += _field(2, g.bitmap)
        message += _field(3, g.width) + _field(4, g.height)
        message += _field(5, g.left, signed=True) + _field(6, g.top, signed=True) + _field(7, g.advance)
        body += _field(3, message)
    return _field(1, body)


def _flatten(face: freetype.Face) -> list[np.ndarray]:
    """The glyph outline as closed rings of points (px), Béziers cut into CURVE_STEPS segments."""
    rings: list[list[tuple[float, float]]] = []
    t = np.linspace(0, 1, CURVE_STEPS + 1)[1:, None]

    def point(v: freetype.FT_Vector) -> np.ndarray:
        return np.array([v.x / 64.0, v.y / 64.0])

    def move_to(to: freetype.FT_Vector, _: object) -> int:
        rings.append([tuple(point(to))])
        return 0

    def line_to(to: freetype.FT_Vector, _: object) -> int:
        rings[-1].append(tuple(point(to)))
        return 0

    def conic_to(control: freetype.FT_Vector, to: freetype.FT_Vector, _: object) -> int:
        p0, p1, p2 = np.array(rings[-1][-1]), point(control), point(to)
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        rings[-1].extend(map(tuple, curve))
        return 0

    def cubic_to(c1: freetype.FT_Vector, c2: freetype.FT_Vector, to: freetype.FT_Vector, _: object) -> int:
        p0, p1, p2, p3 = np.array(rings[-1][-1]), point(c1), point(c2), point(to)
        curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
        rings[-1].extend(map(tuple, curve))
        return 0

    face.glyph.outline.decompose(None, move_to=move_to, line_to=line_to, conic_to=conic_to, cubic_to=cubic_to)
    closed = []
    for ring in rings:
        if len(ring) < 2:
            continue
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        closed.append(np.array(ring, dtype=np.float64))
    return closed


def _sdf(rings: list[np.ndarray], width: int, height: int) -> bytes:
    """The signed distance field of rings already offset into a (width+2B) x (height+2B) box, top row first."""
    w, h = width + 2 * BUFFER, height + 2 * BUFFER
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = xs.ravel() + 0.5, ys.ravel() + 0.5
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    d = b - a
    length2 = np.maximum((d**2).sum(axis=1), 1e-12)
    # distance from each pixel centre to each segment
    tt = ((px[:, None] - a[None, :, 0]) * d[None, :, 0] + (py[:, None] - a[None, :, 1]) * d[None, :, 1]) / length2
    tt = np.clip(tt, 0, 1)
    cx, cy = a[None, :, 0] + tt * d[None, :, 0], a[None, :, 1] + tt * d[None, :, 1]
    dist = np.sqrt(((px[:, None] - cx) ** 2 + (py[:, None] - cy) ** 2).min(axis=1))
    dist = np.minimum(dist, RADIUS) * (256 / RADIUS)
    # even-odd ray casting, as fontnik does
    crosses = (a[None, :, 1] > py[:, None]) != (b[None, :, 1] > py[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = d[None, :, 0] * (py[:, None] - a[None, :, 1]) / d[None, :, 1] + a[None, :, 0]
    inside = (crosses & (px[:, None] < x_at)).sum(axis=1) % 2 == 1
    dist = np.where(inside, -dist, dist) + CUTOFF * 256
    values = (255 - np.clip(dist, 0, 255).astype(np.int64)).astype(np.uint8).reshape(h, w)
    return values[::-1].tobytes()  # rows were counted from the bottom


def render(face: freetype.Face, codepoint: int) -> Glyph | None:
    """One code point's glyph (None when the font has none)."""
    index = face.get_char_index(codepoint)
    if index == 0:
        return None
    face.load_glyph(index, freetype.FT_LOAD_NO_HINTING)
    advance = int(face.glyph.metrics.horiAdvance / 64)
    rings = _flatten(face) if face.glyph.format == freetype.FT_GLYPH_FORMAT_OUTLINE else []
    if not rings:
        return Glyph(codepoint, b"", 0, 0, 0, -BASELINE, advance)  # a space: metrics only
    points = np.concatenate(rings)
    xmin, ymin = np.round(points.min(axis=0))
    xmax, ymax = np.round(points.max(axis=0))
    width, height = int(xmax - xmin), int(ymax - ymin)
    if width == 0 or height == 0:
        return Glyph(codepoint, b"", 0, 0, 0, -BASELINE, advance)
    shifted = [r - np.array([xmin - BUFFER, ymin - BUFFER]) for r in rings]
    return Glyph(codepoint, _sdf(shifted, width, height), width, height, int(xmin), int(ymax) - BASELINE, advance)


class GlyphStore:
    """Glyph ranges of the known fonts, rendered on first use and kept (a range is about 100-250 kB)."""

    def __init__(self, fonts: dict[str, Path] | None = None) -> None:
        self.fonts = dict(fonts or FONTS)
        self._ranges: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def font_for(self, fontstack: str) -> str:
        """The first font of a comma-separated font stack that the atlas has (DejaVu Sans otherwise)."""
        for name in (n.strip() for n in fontstack.split(",")):
            if name in self.fonts:
                return name
        return DEFAULT_FONT

    def range(self, fontstack: str, start: int, end: int) -> bytes:
        """The protobuf of code points start..end (start a multiple of 256, end = start + 255)."""
        if start % 256 or end != start + 255 or not 0 <= start <= MAX_CODEPOINT - 255:
            raise UnknownGlyphRange(f"glyph range {start}-{end}: ranges are 256 code points, e.g. 0-255, 7680-7935")
        font = self.font_for(fontstack)
        key = (font, start)
        with self._lock:
            if key not in self._ranges:
                face = freetype.Face(str(self.fonts[font]))
                face.set_char_size(SIZE * 64)
                glyphs = [g for cp in range(start, end + 1) if (g := render(face, cp)) is not None]
                self._ranges[key] = encode(font, start, glyphs)
            return self._ranges[key]


def decode(data: bytes) -> Iterator[tuple[str, str, dict[int, dict[str, int | bytes]]]]:
    """Read a glyphs protobuf back: (font stack name, range, {code point: fields}) per stack (for tests)."""

    def varint(buf: bytes, i: int) -> tuple[int, int]:
        shift = value = 0
        while True:
            byte = buf[i]
            value |= (byte & 0x7F) << shift
            i += 1
            if not byte & 0x80:
                return value, i
            shift += 7

    def fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
        i = 0
        while i < len(buf):
            key, i = varint(buf, i)
            if key & 7 == 2:
                n, i = varint(buf, i)
                yield key >> 3, buf[i : i + n]
                i += n
            else:
                v, i = varint(buf, i)
                yield key >> 3, v

    names = {1: "id", 2: "bitmap", 3: "width", 4: "height", 5: "left", 6: "top", 7: "advance"}
    for number, stack in fields(data):
        assert number == 1 and isinstance(stack, bytes)
        name, span, glyphs = "", "", {}
        for n, value in fields(stack):
            if n == 1 and isinstance(value, bytes):
                name = value.decode()
            elif n == 2 and isinstance(value, bytes):
                span = value.decode()
            elif n == 3 and isinstance(value, bytes):
                glyph: dict[str, int | bytes] = {}
                for k, v in fields(value):
                    if k in (5, 6) and isinstance(v, int):
                        v = (v >> 1) ^ -(v & 1)  # zigzag back
                    glyph[names[k]] = v
                glyphs[int(glyph["id"])] = glyph
        yield name, span, glyphs
