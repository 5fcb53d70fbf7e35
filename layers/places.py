"""The name resolver of a warehouse build (made once per build), for the command line, the maps and the workspace."""

from __future__ import annotations

from geo.resolver import NameResolver, resolver_from_layers
from layers.store import Build, Warehouse

LAYERS = ("units_2025", "communes_2024", "districts_2024", "villages", "demo_villages")


def _make(build: Build) -> NameResolver:
    return resolver_from_layers({name: build.frame(name) for name in LAYERS if name in build.names})


def resolver_for(warehouse: Warehouse) -> NameResolver:
    """The resolver of the warehouse's current build."""
    return warehouse.derived(NameResolver, _make)
