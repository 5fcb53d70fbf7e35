"""Stage 4, roads: the road layer (village tracks, inter-commune and district roads) and the road to each seat."""

from __future__ import annotations

import itertools
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from geo.alloc import sigmoid
from geo.demo.params import VILLAGE_ROAD
from geo.harmonise import METRIC_CRS
from geo.network import knn_edges, mst_edges


def road_layer(
    communes: gpd.GeoDataFrame,
    geo: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    village_edges: list[dict[str, Any]],
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """Village tracks, inter-commune roads between commune centres and district roads between seats."""
    records = []
    pts = villages.geometry
    for e in village_edges:
        a, b = e["a"], e["b"]
        records.append(
            {
                "road_class": VILLAGE_ROAD,
                "surface": e["surface"],
                "length_km": round(e["length_km"], 3),
                "commune_2024_code": villages["commune_2024_code"].iloc[a],
                "geometry": LineString([pts.iloc[a], pts.iloc[b]]),
            }
        )
    centres = villages[villages["is_commune_centre"]].set_index("commune_2024_code").loc[communes["code"]]
    cm = centres.to_crs(METRIC_CRS)
    cxy = np.column_stack([cm.geometry.x, cm.geometry.y])
    seat_idx = np.flatnonzero(geo["is_seat"].to_numpy())
    seat_pairs = {
        (min(int(seat_idx[i]), int(seat_idx[j])), max(int(seat_idx[i]), int(seat_idx[j])))
        for i, j, _ in mst_edges(cxy[seat_idx])
    }
    edges = {(i, j): d for i, j, d in mst_edges(cxy) + knn_edges(cxy, 2)}
    for i, j in seat_pairs:
        edges.setdefault((i, j), float(np.hypot(*(cxy[i] - cxy[j]))))
    dep = geo["deprivation"].to_numpy()
    for (i, j), d in sorted(edges.items()):
        if (i, j) in seat_pairs:
            cls, surface = "quốc lộ, tỉnh lộ / national or provincial road", "nhựa / asphalt"
        else:
            cls = "đường liên xã / inter-commune road"
            paved = sigmoid(1.6 - 1.2 * max(dep[i], dep[j])) > rng.uniform()
            surface = "nhựa / asphalt" if paved else "cấp phối / gravel"
        records.append(
            {
                "road_class": cls,
                "surface": surface,
                "length_km": round(d / 1000, 3),
                "commune_2024_code": communes["code"].iloc[i],
                "geometry": LineString([centres.geometry.iloc[i], centres.geometry.iloc[j]]),
            }
        )
    roads = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")
    roads.insert(0, "road_id", [f"R{k + 1:05d}" for k in range(len(roads))])
    roads["synthetic"] = True
    return roads


def district_road(
    communes: gpd.GeoDataFrame, geo: pd.DataFrame, roads: gpd.GeoDataFrame, villages: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Road km from each commune centre to its district seat and the unpaved share, over the main roads."""
    import networkx as nx

    def node(xy: tuple[float, ...]) -> tuple[float, float]:
        return (round(float(xy[0]), 7), round(float(xy[1]), 7))

    main = roads[roads["road_class"] != VILLAGE_ROAD]
    graph = nx.Graph()
    for geom, length, surface in zip(main.geometry, main["length_km"], main["surface"], strict=True):
        a, b = (node(c) for c in geom.coords)
        graph.add_edge(a, b, weight=float(length), unpaved=float(length) * surface.startswith("cấp"))
    centres = villages[villages["is_commune_centre"]].set_index("commune_2024_code").geometry
    codes = communes["code"].to_numpy()
    seat = geo["seat_index"].to_numpy()
    km = np.zeros(len(communes))
    unpaved = np.zeros(len(communes))
    for i, code in enumerate(codes):
        a, b = node(centres[code].coords[0]), node(centres[codes[seat[i]]].coords[0])
        if a == b or a not in graph or b not in graph:
            continue
        try:
            path = nx.shortest_path(graph, a, b, weight="weight")
        except nx.NetworkXNoPath:
            continue
        legs = list(itertools.pairwise(path))
        km[i] = sum(graph[u][v]["weight"] for u, v in legs)
        unpaved[i] = sum(graph[u][v]["unpaved"] for u, v in legs) / km[i] if km[i] else 0.0
    return km, unpaved
