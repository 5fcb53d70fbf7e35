"""The synthetic demo dataset: poverty, region, villages and infrastructure, calibrated to published figures.

Everything here is generated (fixed seed) from the real boundaries, GeoNames places and the WorldPop
raster, and every output row is flagged `synthetic`. The method (docs/demo-data.md):

1. Geography: WorldPop population per pre-merger commune, its population centre, the distance to its
   district seat and to the provincial capital, its density; a deprivation score combines them with a
   district effect (Thuận Châu and Sốp Cộp are the province's poor districts) and seeded noise.
2. Households and persons per commune and year follow WorldPop shares and reproduce the published
   provincial totals; ethnic-minority shares are high in remote communes and low in towns, calibrated to
   the published 2022 count.
3. Status by design, then by rule: the 126 most deprived communes of the ethnic-minority area (with the
   published district counts of Mai Sơn and Bắc Yên) are given 2021 poverty rates in the band that
   Decision 33/2020 requires of region III; the others get rates below it; new-rural communes are the
   least deprived. Region classes and especially-difficult villages are then *derived from the generated
   figures by the rules of geo.rules*, and the calibration report checks the counts.
4. Villages: 2,303 settlements, GeoNames places first and population-weighted synthetic points where
   GeoNames has too few; households split by local density; poverty spread around the commune rate by
   remoteness, tuned so that exactly the published number of villages meets Art. 6.
5. Years 2022-2025: poverty falls commune by commune at heterogeneous speeds, solved each year to the
   published provincial (and Sốp Cộp, Mai Sơn) rates; integer counts are exact.
6. Infrastructure: a health station, primary and lower-secondary school at each commune centre, school
   sites and markets in the larger villages, a road network (village tracks to the commune centre,
   inter-commune and district roads), bridges on long links; the paved share of village roads is the
   published 74.41%.

7. The 2026-2030 period (stage 7, its own seed): 2026 village figures, the 75 units' demo classes (66 of
   75 region III, as Decision 60/QĐ-BDTTG publishes), especially difficult villages of 2026-2030, and
   deprivation counts per village and year consistent with the poor and near-poor counts.

The stages live in modules: `geography` (1), `communes` (2, 3 and 5, and the commune table by rule),
`villages` and `roads` (4), `infrastructure` (6), `period_2026` (7); `params` holds the seed and the assumptions and
`generate` runs the stages in order on one random generator. Every public name is importable from `geo.demo`.
"""

from __future__ import annotations

from geo.demo.generate import DemoResult, generate_demo
from geo.demo.infrastructure import FACILITY_COLUMNS
from geo.demo.params import (
    DEMO_SOURCE,
    DISTRICT_EFFECT,
    GRID_NONE_SHARE,
    GRID_PARTIAL_SHARE,
    NEAR_POOR_RATE_ASSUMED,
    SEED,
    VILLAGE_ROAD,
    YEARS,
    Counts,
)

__all__ = [
    "DEMO_SOURCE",
    "DISTRICT_EFFECT",
    "FACILITY_COLUMNS",
    "GRID_NONE_SHARE",
    "GRID_PARTIAL_SHARE",
    "NEAR_POOR_RATE_ASSUMED",
    "SEED",
    "VILLAGE_ROAD",
    "YEARS",
    "Counts",
    "DemoResult",
    "generate_demo",
]
