"""Stage 6, infrastructure points: health stations, schools, markets and bridges."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.names import split_unit_type

FACILITY_COLUMNS = ["facility_id", "name", "facility_type", "commune_2024_code", "village_id", "geometry"]


def _facilities(rows: Sequence[tuple[object, ...]]) -> gpd.GeoDataFrame:
    """A synthetic facility layer from (id, name, type, commune, village, point) rows."""
    frame = gpd.GeoDataFrame(pd.DataFrame(rows, columns=FACILITY_COLUMNS), geometry="geometry", crs="EPSG:4326")
    frame["synthetic"] = True
    return frame


def infrastructure(
    communes: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, rng: np.random.Generator
) -> dict[str, gpd.GeoDataFrame]:
    """Health stations and schools at commune centres, school sites and markets in larger villages, bridges."""
    names = communes.set_index("code")["name"]
    centres = villages[villages["is_commune_centre"]]
    bare = {c: split_unit_type(n)[1] for c, n in names.items()}
    return {
        "health_stations": _health_stations(centres, names),
        "schools": _schools(villages, centres, bare),
        "markets": _markets(villages, centres, bare),
        "bridges": _bridges(roads, rng),
    }


def _health_stations(centres: gpd.GeoDataFrame, names: pd.Series) -> gpd.GeoDataFrame:
    """A commune health station at each commune centre."""
    return gpd.GeoDataFrame(
        {
            "facility_id": [f"TYT-{c}" for c in centres["commune_2024_code"]],
            "name": [f"Trạm y tế {names[c]}" for c in centres["commune_2024_code"]],
            "facility_type": "trạm y tế xã / commune health station",
            "commune_2024_code": centres["commune_2024_code"].to_numpy(),
            "village_id": centres["village_id"].to_numpy(),
            "synthetic": True,
        },
        geometry=centres.geometry.values,
        crs="EPSG:4326",
    )


def _schools(villages: gpd.GeoDataFrame, centres: gpd.GeoDataFrame, bare: dict[str, str]) -> gpd.GeoDataFrame:
    """A primary and a lower-secondary school at each commune centre, primary sites in larger remote villages."""
    school_rows = []
    for rec in centres.itertuples():
        school_rows.append(
            (
                f"TH-{rec.commune_2024_code}",
                f"Trường Tiểu học {bare[rec.commune_2024_code]}",
                "tiểu học / primary",
                rec.commune_2024_code,
                rec.village_id,
                rec.geometry,
            )
        )
        school_rows.append(
            (
                f"THCS-{rec.commune_2024_code}",
                f"Trường THCS {bare[rec.commune_2024_code]}",
                "trung học cơ sở / lower secondary",
                rec.commune_2024_code,
                rec.village_id,
                rec.geometry,
            )
        )
    sites = villages[
        ~villages["is_commune_centre"] & (villages["households"] >= 60) & (villages["distance_to_centre_km"] >= 3)
    ]
    for rec in sites.itertuples():
        school_rows.append(
            (
                f"DT-{rec.village_id}",
                f"Điểm trường {rec.name}",
                "điểm trường tiểu học / primary site",
                rec.commune_2024_code,
                rec.village_id,
                rec.geometry,
            )
        )
    return _facilities(school_rows)


def _markets(villages: gpd.GeoDataFrame, centres: gpd.GeoDataFrame, bare: dict[str, str]) -> gpd.GeoDataFrame:
    """A commune market at the centre of communes of 700+ households, a periodic market in a large remote village."""
    hh = villages.groupby("commune_2024_code")["households"].sum()
    market_centres = centres[centres["commune_2024_code"].map(hh) >= 700]
    big = villages[
        ~villages["is_commune_centre"] & (villages["households"] >= 200) & (villages["distance_to_centre_km"] >= 4)
    ]
    big = big.sort_values("households", ascending=False).drop_duplicates("commune_2024_code")
    market_rows = [
        (
            f"CHO-{r.commune_2024_code}",
            f"Chợ {bare[r.commune_2024_code]}",
            "chợ xã / commune market",
            r.commune_2024_code,
            r.village_id,
            r.geometry,
        )
        for r in market_centres.itertuples()
    ]
    market_rows += [
        (
            f"CHOP-{r.village_id}",
            f"Chợ phiên {r.name}",
            "chợ phiên / periodic market",
            r.commune_2024_code,
            r.village_id,
            r.geometry,
        )
        for r in big.itertuples()
    ]
    return _facilities(market_rows)


def _bridges(roads: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Bridges at the midpoint of about a third of the road links of 3 km or more (no river data)."""
    long_links = roads[roads["length_km"] >= 3.0]
    pick = long_links[rng.uniform(size=len(long_links)) < 0.35]
    return gpd.GeoDataFrame(
        {
            "bridge_id": [f"B{k + 1:04d}" for k in range(len(pick))],
            "bridge_type": [
                "cầu treo / suspension footbridge" if c.startswith("đường thôn") else "cầu bê tông / concrete"
                for c in pick["road_class"]
            ],
            "road_id": pick["road_id"].to_numpy(),
            "commune_2024_code": pick["commune_2024_code"].to_numpy(),
            "position_note": "illustrative: midpoint of a long road link, no river data",
            "synthetic": True,
        },
        geometry=[shapely.line_interpolate_point(g, 0.5, normalized=True) for g in pick.geometry],
        crs="EPSG:4326",
    )
