"""Stage 4, villages: placed from GeoNames and WorldPop, joined by a road tree to their commune centre, with
households, road surfaces, grid power and poverty tuned so that the published number of villages meets Art. 6."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from geo.alloc import CalibrationError, allocate, standardise
from geo.demo.communes import CommuneFigures
from geo.demo.params import GRID_NONE_SHARE, GRID_PARTIAL_SHARE, YEARS, Counts
from geo.demo.roads import road_layer
from geo.harmonise import METRIC_CRS
from geo.network import mst_edges, tree_parents
from geo.population import PopulationGrid
from geo.rules import VILLAGE_REASONS, especially_difficult_villages


@dataclass
class _Layout:
    """Where the villages are and how the road tree of each commune joins them to its centre."""

    villages: gpd.GeoDataFrame  # placed villages, with commune_index
    cidx: np.ndarray  # commune index of each village
    is_centre: np.ndarray
    parent: np.ndarray  # next village towards the commune centre (-1 at the centre)
    dist_centre: np.ndarray  # km along the tree
    straight: np.ndarray  # km as the crow flies
    dens: np.ndarray  # WorldPop count of the village's cell
    road_edges: list[dict[str, Any]]  # village tracks (a, b, length_km, class, commune_index; surface added later)


@dataclass
class _Roads:
    """Surfaces of the village roads: paved route to the centre, and whether the route has an earth link."""

    paved: np.ndarray
    hard_road: np.ndarray


def villages_and_roads(
    communes: gpd.GeoDataFrame,
    geo: pd.DataFrame,
    places: gpd.GeoDataFrame,
    grid: PopulationGrid,
    figures: CommuneFigures,
    rng: np.random.Generator,
    targets: dict[str, float],
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame, list[str]]:
    """The villages with households, poverty and road access, their yearly figures, and the road layer."""
    notes: list[str] = []
    counts = _village_counts(geo, figures.households[2022], int(targets["villages_total"]))
    layout = _layout(communes, geo, _place_villages(communes, geo, places, grid, counts, rng), grid)
    nv = len(layout.villages)
    # households, ethnic minority and poverty per village
    size = np.sqrt(np.maximum(layout.dens, 1.0)) * rng.lognormal(0, 0.4, nv) * np.where(layout.is_centre, 2.5, 1.0)
    remote = standardise(np.log1p(layout.dist_centre))
    noise = rng.normal(0, 0.3, nv)
    v_households, v_dtts = _village_households(layout, figures, size, remote)
    deprivation = geo["deprivation"].to_numpy()[layout.cidx]
    roads = _village_roads(layout, remote, deprivation, noise, round(targets["paved_road_share"] / 100 * nv))
    grid_share, water_share = _utilities(layout, remote, deprivation, noise, rng, notes)
    h21, d21 = v_households[2021], v_dtts[2021]
    dtts_share_v = d21 / h21
    poor_dtts_frac = dtts_share_v * figures.risk / (dtts_share_v * figures.risk + (1 - dtts_share_v))

    def flags(vpoor: np.ndarray) -> np.ndarray:
        return especially_difficult_villages(dtts_share_v, vpoor / h21, poor_dtts_frac, roads.hard_road, grid_share)[0]

    z = 0.7 * remote + 0.4 * standardise(dtts_share_v) + noise - 0.8 * layout.is_centre
    mai_son = communes["district_code"].to_numpy()[layout.cidx] == "125"
    vpoor, final = _village_poverty_2021(layout, figures.poor[2021], h21, z, flags, mai_son, targets)
    v_poor, v_near = _village_years(layout, figures, v_households, vpoor)
    reason_index = especially_difficult_villages(
        dtts_share_v, vpoor / h21, poor_dtts_frac, roads.hard_road, grid_share
    )[1]
    cidx = layout.cidx
    codes = communes["code"].to_numpy()
    ids = [f"{codes[cidx[k]]}-{(k - np.flatnonzero(cidx == cidx[k])[0]) + 1:02d}" for k in range(nv)]
    attributes = {
        "households": v_households[2021],
        "ethnic_minority_share": np.round(dtts_share_v, 4),
        "poor_households_2021": vpoor,
        "poor_rate_2021": np.round(100 * vpoor / h21, 2),
        "households_2025": v_households[2025],
        "poor_households_2025": v_poor[2025],
        "poor_rate_2025": np.round(100 * v_poor[2025] / v_households[2025], 2),
        "poor_ethnic_minority_share_2021": np.round(poor_dtts_frac, 6),
        "especially_difficult": final,
        "especially_difficult_reason": [VILLAGE_REASONS[int(r)] for r in reason_index],
        "paved_road_to_centre": roads.paved,
        "all_season_road": ~roads.hard_road,
        "grid_power_share": np.round(grid_share, 3),
        "clean_water_share": np.round(water_share, 3),
    }
    out = _village_frame(layout, ids, attributes)
    years = _village_year_table(ids, v_households, v_poor, v_near, v_dtts)
    return out, years, road_layer(communes, geo, out, layout.road_edges, rng), notes


def _village_frame(layout: _Layout, ids: list[str], attributes: dict[str, Any]) -> gpd.GeoDataFrame:
    """The village layer: identity and place, the attributes (in layer order) and the distances to the centre."""
    villages = layout.villages
    return gpd.GeoDataFrame(
        {
            "village_id": ids,
            "name": villages["name"],
            "geonameid": villages["geonameid"],
            "location_source": villages["location_source"],
            "commune_2024_code": villages["commune_2024_code"],
            "is_commune_centre": layout.is_centre,
            **attributes,
            "distance_to_centre_km": np.round(layout.dist_centre, 2),
            "straight_distance_to_centre_km": np.round(layout.straight, 2),
            "synthetic": True,
        },
        geometry=villages.geometry.values,
        crs="EPSG:4326",
    )


def _village_year_table(
    ids: list[str], v_households: Counts, v_poor: Counts, v_near: Counts, v_dtts: Counts
) -> pd.DataFrame:
    """One row per village and year."""
    return pd.DataFrame(
        [
            {
                "village_id": ids[k],
                "year": y,
                "households": int(v_households[y][k]),
                "poor_households": int(v_poor[y][k]),
                "near_poor_households": int(v_near[y][k]),
                "ethnic_minority_households": int(v_dtts[y][k]),
                "synthetic": True,
            }
            for y in YEARS
            for k in range(len(ids))
        ]
    )


def _village_counts(geo: pd.DataFrame, households_2022: np.ndarray, total: int) -> np.ndarray:
    """Villages per commune: households over a typical village size, at least 4, summing to the published total."""
    # an urban residential group (tổ dân phố) has about 250 households; a rural bản 60-200, smaller where remote
    typical = np.where(geo["urban"].to_numpy(), 250.0, np.clip(110.0 * np.exp(-0.35 * geo["deprivation"]), 50, 200))
    weight = households_2022 / typical
    return allocate(weight * total / weight.sum(), total, lower=np.full(len(geo), 4))


def _place_villages(
    communes: gpd.GeoDataFrame,
    geo: pd.DataFrame,
    places: gpd.GeoDataFrame,
    grid: PopulationGrid,
    counts: np.ndarray,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """GeoNames places first (named 'Bản …' before others), then population-weighted synthetic points."""
    usable = places[places["feature_code"] != "PPLW"].copy()
    usable["_rank"] = np.where(usable["feature_code"].isin(["PPLA", "PPLA2"]), 0, np.where(usable["is_ban"], 1, 2))
    usable["_id"] = usable["geonameid"].astype(str).str.zfill(12)
    records: list[dict[str, Any]] = []
    for i, commune in communes.iterrows():
        code = commune["code"]
        need = int(counts[i])
        mine = usable[usable["commune_2024_code"] == code].sort_values(["_rank", "_id"]).head(need)
        pts = [(p.x, p.y) for p in mine.geometry]
        for rec, (x, y) in zip(mine.itertuples(), pts, strict=True):
            records.append(
                {
                    "commune_2024_code": code,
                    "name": rec.name,
                    "geonameid": str(rec.geonameid),
                    "location_source": "GeoNames",
                    "feature_code": rec.feature_code,
                    "x": x,
                    "y": y,
                }
            )
        if need - len(pts) > 0:
            records += _synthetic_points(code, commune.geometry, need - len(pts), pts, grid, rng)
    _move_coincident(records)
    out = gpd.GeoDataFrame(
        records, geometry=gpd.points_from_xy([r["x"] for r in records], [r["y"] for r in records]), crs="EPSG:4326"
    )
    return out.drop(columns=["x", "y"])


def _synthetic_points(
    code: str,
    area: Any,
    missing: int,
    pts: list[tuple[float, float]],
    grid: PopulationGrid,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Population-weighted points in the commune, about 500 m from each other and from its GeoNames places."""
    records: list[dict[str, Any]] = []
    xy, w = grid.inside(area)
    taken = [np.array(p) for p in pts]
    k = 0
    attempts = 0
    while k < missing:
        attempts += 1
        if len(xy) and attempts < 400:
            cell = xy[rng.choice(len(xy), p=w / w.sum())]
            cand = cell + rng.uniform(-0.004, 0.004, 2)
        else:
            minx, miny, maxx, maxy = area.bounds
            cand = np.array([rng.uniform(minx, maxx), rng.uniform(miny, maxy)])
        if not area.contains(Point(cand)):
            continue
        if attempts < 800 and any(np.hypot(*((cand - t) * [104.0, 111.0])) < 0.5 for t in taken):
            continue  # keep synthetic points about 500 m apart
        taken.append(cand)
        k += 1
        records.append(
            {
                "commune_2024_code": code,
                "name": f"Điểm dân cư mô phỏng {k} (synthetic)",
                "geonameid": None,
                "location_source": "synthetic",
                "feature_code": None,
                "x": float(cand[0]),
                "y": float(cand[1]),
            }
        )
    return records


def _move_coincident(records: list[dict[str, Any]]) -> None:
    """GeoNames places snapped to the same arc-minute grid point are moved apart by about 100 m."""
    seen: dict[tuple[float, float], int] = {}
    for rec in records:
        key = (round(rec["x"], 5), round(rec["y"], 5))
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count:
            angle = 2.4 * count
            rec["x"] += 0.001 * math.cos(angle)
            rec["y"] += 0.001 * math.sin(angle)
            rec["location_source"] += " (moved ~100 m from a coincident place)"


def _layout(communes: gpd.GeoDataFrame, geo: pd.DataFrame, villages: gpd.GeoDataFrame, grid: PopulationGrid) -> _Layout:
    """Each commune's centre (its town, or the village nearest its population centre) and road tree (an MST)."""
    n = len(communes)
    villages["commune_index"] = villages["commune_2024_code"].map({c: i for i, c in enumerate(communes["code"])})
    m = villages.to_crs(METRIC_CRS)
    vx, vy = m.geometry.x.to_numpy(), m.geometry.y.to_numpy()
    nv = len(villages)
    is_centre = np.zeros(nv, dtype=bool)
    parent = np.full(nv, -1)
    dist_centre = np.zeros(nv)
    road_edges: list[dict[str, Any]] = []
    # density at each village (WorldPop cell value) drives its size
    lon, lat = villages.geometry.x.to_numpy(), villages.geometry.y.to_numpy()
    dens = np.zeros(nv)
    for k in range(nv):
        d2 = (grid.x - lon[k]) ** 2 + (grid.y - lat[k]) ** 2
        j = int(np.argmin(d2))
        dens[k] = grid.count[j] if d2[j] < (0.006**2) else 1.0
    for i in range(n):
        idx = np.flatnonzero(villages["commune_index"].to_numpy() == i)
        fc = villages["feature_code"].to_numpy()[idx]
        towns = [j for j, f in zip(idx, fc, strict=True) if f in ("PPLA", "PPLA2")]
        if towns:
            c = towns[0]
        else:
            d = np.hypot(vx[idx] - geo["mx"].iloc[i], vy[idx] - geo["my"].iloc[i])
            c = idx[int(np.argmin(d))]
        is_centre[c] = True
        local = np.column_stack([vx[idx], vy[idx]])
        edges = mst_edges(local)
        root = int(np.flatnonzero(idx == c)[0])
        par, dist = tree_parents(len(idx), edges, root)
        parent[idx] = np.where(par >= 0, idx[np.maximum(par, 0)], -1)
        dist_centre[idx] = dist / 1000
        for a, b, length in edges:
            road_edges.append(
                {"a": int(idx[a]), "b": int(idx[b]), "length_km": length / 1000, "class": "village", "commune_index": i}
            )
    straight = np.zeros(nv)
    centre_of = {int(villages["commune_index"].iloc[k]): k for k in np.flatnonzero(is_centre)}
    cidx = villages["commune_index"].to_numpy()
    for k in range(nv):
        c = centre_of[int(cidx[k])]
        straight[k] = math.hypot(vx[k] - vx[c], vy[k] - vy[c]) / 1000
    return _Layout(villages, cidx, is_centre, parent, dist_centre, straight, dens, road_edges)


def _village_households(
    layout: _Layout, figures: CommuneFigures, size: np.ndarray, remote: np.ndarray
) -> tuple[Counts, Counts]:
    """Households and ethnic-minority households of each village and year, summing to the commune figures."""
    cidx, is_centre = layout.cidx, layout.is_centre
    nv = len(cidx)
    households, dtts = figures.households, figures.dtts
    v_households = {}
    v_dtts = {}
    for y in YEARS:
        hh = np.zeros(nv, dtype=np.int64)
        dt = np.zeros(nv, dtype=np.int64)
        for i in range(len(households[y])):
            idx = np.flatnonzero(cidx == i)
            w = size[idx]
            hh[idx] = allocate(households[y][i] * w / w.sum(), int(households[y][i]), lower=np.full(len(idx), 8))
            tilt = np.clip(dtts[y][i] / households[y][i] + 0.08 * remote[idx] - 0.25 * is_centre[idx], 0.0, 1.0)
            dt[idx] = allocate(
                hh[idx] * tilt * dtts[y][i] / max((hh[idx] * tilt).sum(), 1e-9), int(dtts[y][i]), upper=hh[idx]
            )
        v_households[y], v_dtts[y] = hh, dt
    return v_households, v_dtts


def _village_roads(
    layout: _Layout, remote: np.ndarray, deprivation: np.ndarray, noise: np.ndarray, paved_target: int
) -> _Roads:
    """Exactly the published share of villages with a paved road, closed towards the commune centre; surfaces."""
    parent = layout.parent
    nv = len(parent)
    score = -(0.8 * remote + 0.6 * deprivation + noise)
    paved = layout.is_centre.copy()
    for k in np.argsort(-score, kind="stable"):
        if paved.sum() >= paved_target:
            break
        chain = []
        j = k
        while j >= 0 and not paved[j]:
            chain.append(j)
            j = parent[j]
        if paved.sum() + len(chain) <= paved_target:
            paved[chain] = True
    if paved.sum() != paved_target:
        raise CalibrationError(f"paved villages: reached {int(paved.sum())}, target {paved_target}")
    # surfaces: the edge to a paved village's parent is concrete; others gravel, earth when remote
    earth_edge = np.zeros(nv, dtype=bool)
    for e in layout.road_edges:
        a, b = e["a"], e["b"]
        child = a if parent[a] == b else b
        if paved[child]:
            surface = "bê tông / concrete"
        else:
            earth = bool(remote[child] + deprivation[child] + noise[child] > 0.6)
            earth_edge[child] = earth
            surface = "đất / earth" if earth else "cấp phối / gravel"
        e["surface"] = surface
    hard_road = np.zeros(nv, dtype=bool)
    for k in range(nv):
        j = k
        while j >= 0 and parent[j] >= 0:
            if earth_edge[j]:
                hard_road[k] = True
                break
            j = parent[j]
    return _Roads(paved, hard_road)


def _utilities(
    layout: _Layout,
    remote: np.ndarray,
    deprivation: np.ndarray,
    noise: np.ndarray,
    rng: np.random.Generator,
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Grid power and clean water shares of each village (assumptions): lowest in the most remote."""
    nv = len(remote)
    remoteness_rank = np.argsort(-(remote + deprivation + noise), kind="stable")
    grid_share = np.ones(nv)
    n_none, n_partial = round(GRID_NONE_SHARE * nv), round(GRID_PARTIAL_SHARE * nv)
    grid_share[remoteness_rank[:n_none]] = 0.0
    grid_share[remoteness_rank[n_none : n_none + n_partial]] = rng.uniform(0.3, 0.69, n_partial)
    grid_share[layout.is_centre] = 1.0
    water_share = np.clip(0.97 - 0.12 * (remote + deprivation) + rng.normal(0, 0.05, nv), 0.35, 1.0)
    notes.append(
        f"grid power: {n_none} villages without and {n_partial} with partial coverage, the most remote "
        "(assumption); clean water shares fall with remoteness (assumption)"
    )
    return grid_share, water_share


def _village_poverty_2021(
    layout: _Layout,
    poor_2021: np.ndarray,
    h21: np.ndarray,
    z: np.ndarray,
    flags: Callable[[np.ndarray], np.ndarray],
    mai_son: np.ndarray,
    targets: dict[str, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Poor households of 2021 spread around the commune rate, tuned to the published Art. 6 counts; and the flags."""
    cidx = layout.cidx
    commune_villages = [np.flatnonzero(cidx == i) for i in range(len(poor_2021))]

    def spread(kappa: float, group: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Poor households of the group's villages spread around their commune rate with dispersion kappa."""
        for i in np.unique(cidx[group]):
            idx = commune_villages[i]
            w = h21[idx] * np.exp(kappa * z[idx])
            expected = np.minimum(poor_2021[i] * w / w.sum(), 0.95 * h21[idx])
            expected *= poor_2021[i] / max(expected.sum(), 1e-9)
            out[idx] = allocate(expected, int(poor_2021[i]), upper=h21[idx])
        return out

    target_all = int(targets["especially_difficult_villages"])
    target_ms = int(targets["especially_difficult_villages_mai_son"])
    vpoor = np.zeros(len(cidx), dtype=np.int64)
    # the districts' villages are independent: tune each group's dispersion on its own
    for group, target in ((mai_son, target_ms), (~mai_son, target_all - target_ms)):
        miss = {}
        for kappa in np.linspace(0.0, 2.0, 41):
            trial = spread(float(kappa), group, vpoor.copy())
            miss[float(kappa)] = abs(int(flags(trial)[group].sum()) - target)
        spread(min(miss, key=lambda k: (miss[k], k)), group, vpoor)
    vpoor = _adjust_flags(vpoor, h21, cidx, flags, mai_son, target_ms)
    vpoor = _adjust_flags(vpoor, h21, cidx, flags, ~mai_son, target_all - target_ms)
    final = flags(vpoor)
    if int(final.sum()) != target_all or int(final[mai_son].sum()) != target_ms:
        raise CalibrationError(
            f"especially difficult villages: {int(final.sum())} (Mai Sơn "
            f"{int(final[mai_son].sum())}), targets {target_all} ({target_ms})"
        )
    return vpoor, final


def _village_years(
    layout: _Layout, figures: CommuneFigures, v_households: Counts, vpoor: np.ndarray
) -> tuple[Counts, Counts]:
    """Poor and near-poor households of each village and year: the commune totals with the 2021 pattern."""
    cidx = layout.cidx
    nv = len(cidx)
    n = len(figures.poor[2021])
    poor, near_poor = figures.poor, figures.near_poor
    v_poor = {2021: vpoor}
    v_near = {}
    for y in YEARS:
        if y != 2021:
            out = np.zeros(nv, dtype=np.int64)
            for i in range(n):
                idx = np.flatnonzero(cidx == i)
                w = vpoor[idx] + 0.01 * v_households[y][idx]
                out[idx] = allocate(poor[y][i] * w / w.sum(), int(poor[y][i]), upper=v_households[y][idx])
            v_poor[y] = out
        out = np.zeros(nv, dtype=np.int64)
        for i in range(n):
            idx = np.flatnonzero(cidx == i)
            room = v_households[y][idx] - v_poor[y][idx]
            out[idx] = allocate(near_poor[y][i] * room / max(room.sum(), 1), int(near_poor[y][i]), upper=room)
        v_near[y] = out
    return v_poor, v_near


def _adjust_flags(
    vpoor: np.ndarray,
    h21: np.ndarray,
    cidx: np.ndarray,
    flags: Callable[[np.ndarray], np.ndarray],
    group: np.ndarray,
    target: int,
) -> np.ndarray:
    """Move poor households between villages of one commune until exactly `target` villages of the group flag."""
    vpoor = vpoor.copy()
    for _ in range(5000):
        f = flags(vpoor)
        count = int(f[group].sum())
        if count == target:
            return vpoor
        rate = vpoor / h21
        if count < target:
            cands = np.flatnonzero(group & ~f)
            cands = cands[np.argsort(-rate[cands], kind="stable")]
        else:
            cands = np.flatnonzero(group & f)
            cands = cands[np.argsort(rate[cands], kind="stable")]
        moved = False
        for v in cands[:60]:
            peers = np.flatnonzero((cidx == cidx[v]) & (np.arange(len(vpoor)) != v))
            for step in range(1, h21[v] + 1):
                trial = vpoor.copy()
                delta = step if count < target else -step
                if not 0 <= trial[v] + delta <= h21[v]:
                    break
                trial[v] += delta
                # take from (or give to) peers whose own flag must not change
                need = abs(delta)
                order = peers[np.argsort(-trial[peers] if delta > 0 else trial[peers], kind="stable")]
                for u in order:
                    if need == 0:
                        break
                    give = min(need, trial[u]) if delta > 0 else min(need, h21[u] - trial[u])
                    trial[u] += -give if delta > 0 else give
                    need -= give
                if need:
                    break
                nf = flags(trial)
                if nf[v] != f[v] and np.array_equal(np.delete(nf, v), np.delete(f, v)):
                    vpoor = trial
                    moved = True
                    break
            if moved:
                break
        if not moved:
            raise CalibrationError(f"cannot reach {target} especially difficult villages (stuck at {count})")
    raise CalibrationError("especially difficult villages: adjustment did not converge")
