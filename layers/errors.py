"""Exceptions raised by the layers package; none of them knows about HTTP (api/errors.py maps them to statuses)."""

from __future__ import annotations

from geo.errors import GeoError


class LayersError(GeoError):
    """Base class of every error the layers package raises on purpose."""


class WarehouseMissing(LayersError):
    """There is no readable warehouse at the configured path (nothing built yet, or the file was removed)."""


class BuildReplaced(WarehouseMissing):
    """The build a reader started on was replaced before it finished reading; the next request reads the new one."""


class LayerMissing(LayersError):
    """The warehouse has no layer of that name."""
