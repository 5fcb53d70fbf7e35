"""The map icons of the workspace as a MapLibre sprite (a PNG sheet and its JSON index), at 1x and 2x.

Drawn with Pillow in the colours of layers.palette: the facilities (health station, school, market, bridge),
villages (ordinary and especially difficult) and the projects of the investment plan.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable

from PIL import Image, ImageDraw

from layers.palette import DIFFICULT_VILLAGE, FACILITIES, PROPOSED, VILLAGE

SIZE = 17  # px of each icon at 1x
WHITE = "#ffffff"

Draw = Callable[[ImageDraw.ImageDraw, int], None]


def _disc(colour: str, edge: str = WHITE) -> Draw:
    def draw(d: ImageDraw.ImageDraw, s: int) -> None:
        d.ellipse((1, 1, s - 2, s - 2), fill=colour, outline=edge, width=max(1, s // 12))

    return draw


def _health(d: ImageDraw.ImageDraw, s: int) -> None:
    _disc(FACILITIES["health_stations"].colour)(d, s)
    w, m = max(2, s // 6), s // 2
    d.rectangle((m - w // 2 - 1, s // 4, m + w // 2, s - s // 4 - 1), fill=WHITE)
    d.rectangle((s // 4, m - w // 2 - 1, s - s // 4 - 1, m + w // 2), fill=WHITE)


def _school(d: ImageDraw.ImageDraw, s: int) -> None:
    _disc(FACILITIES["schools"].colour)(d, s)
    d.polygon([(s // 2, s // 4), (s - s // 5, s // 2), (s // 5, s // 2)], fill=WHITE)  # a roof
    d.rectangle((s // 3, s // 2, s - s // 3 - 1, s - s // 4 - 1), fill=WHITE)


def _market(d: ImageDraw.ImageDraw, s: int) -> None:
    _disc(FACILITIES["markets"].colour)(d, s)
    d.rectangle((s // 4, s // 3, s - s // 4 - 1, s - s // 4 - 1), outline=WHITE, width=max(1, s // 10))
    d.line((s // 4, s // 3, s // 2, s // 5, s - s // 4 - 1, s // 3), fill=WHITE, width=max(1, s // 10))


def _bridge(d: ImageDraw.ImageDraw, s: int) -> None:
    _disc(FACILITIES["bridges"].colour)(d, s)
    d.arc((s // 5, s // 3, s - s // 5 - 1, s + s // 3), 180, 360, fill=WHITE, width=max(1, s // 8))
    d.line((s // 6, s // 2, s - s // 6 - 1, s // 2), fill=WHITE, width=max(1, s // 10))


def _triangle(colour: str, edge: str) -> Draw:
    def draw(d: ImageDraw.ImageDraw, s: int) -> None:
        d.polygon([(s // 2, 1), (s - 2, s - 3), (1, s - 3)], fill=colour, outline=edge)
        d.line((s // 2, s // 3, s // 2, s - s // 3 - 1), fill=WHITE, width=max(1, s // 9))
        d.point((s // 2, s - s // 4 - 1), fill=WHITE)

    return draw


def _star(d: ImageDraw.ImageDraw, s: int) -> None:
    import math

    points = []
    for i in range(10):
        r = (s / 2 - 1) if i % 2 == 0 else (s / 4.6)
        a = math.pi / 2 + i * math.pi / 5
        points.append((s / 2 + r * math.cos(a), s / 2 - r * math.sin(a)))
    d.polygon(points, fill=PROPOSED.colour, outline=PROPOSED.edge)


ICONS: dict[str, Draw] = {
    "health_station": _health,
    "school": _school,
    "market": _market,
    "bridge": _bridge,
    "village": _disc(VILLAGE.colour, VILLAGE.edge or WHITE),
    "village_difficult": _triangle(DIFFICULT_VILLAGE.colour, DIFFICULT_VILLAGE.edge or WHITE),
    "project": _star,
}


def sprite(ratio: int = 1) -> tuple[bytes, bytes]:
    """The sprite sheet (PNG) and its index (JSON) at a pixel ratio of 1 or 2."""
    size = SIZE * ratio
    sheet = Image.new("RGBA", (size * len(ICONS), size), (0, 0, 0, 0))
    index: dict[str, dict[str, int]] = {}
    for i, (name, draw) in enumerate(ICONS.items()):
        icon = Image.new("RGBA", (size * 4, size * 4), (0, 0, 0, 0))  # drawn at 4x, then reduced: smooth edges
        draw(ImageDraw.Draw(icon), size * 4)
        sheet.paste(icon.resize((size, size), Image.Resampling.LANCZOS), (i * size, 0))
        index[name] = {"x": i * size, "y": 0, "width": size, "height": size, "pixelRatio": ratio}
    out = io.BytesIO()
    sheet.save(out, "PNG", optimize=True)
    return out.getvalue(), json.dumps(index, separators=(",", ":")).encode()


class SpriteStore:
    """The sprite at each pixel ratio, drawn once."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[bytes, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, ratio: int) -> tuple[bytes, bytes]:
        """(PNG, JSON) at ratio 1 or 2."""
        with self._lock:
            if ratio not in self._made:
                self._made[ratio] = sprite(ratio)
            return self._made[ratio]
