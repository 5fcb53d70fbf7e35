"""Investment planning: candidate projects computed from the network and villages, and the budget MILP.

The model is a covering problem written once and used three ways (MILP, evaluation, brute force in the
tests). A *component* is something that is built and paid for once: the concrete upgrade of one road
link, a crossing on one earth link, a school or health post at one village, a grid extension to one
village. A *project* is what a planner funds: one or more components (the road from a village to its
commune centre is the upgrade of every unpaved link on the way, links shared between villages' roads
are paid once). A village *need* is met when each of its clauses holds, a clause holding when any one of
its components is built:

- road: every unpaved link on the village's fastest route to its commune centre is upgraded;
- all-season: every earth link on that route is upgraded or has a crossing;
- school / health: a school (health post) is built within the threshold travel time, for villages
  now beyond it;
- grid: the village gets a grid extension (villages with partial or no grid power);
- water and sanitation, housing support, telecom connection: the village project is built (a candidate
  where at least `deprivation_min_share` of its households lack what it addresses).

A need is worth the households lacking what its kind addresses, where the villages carry deprivation
counts (data/profiles/needs.yaml maps indicators to kinds: a school by the households with children out
of school or adults without schooling, a water scheme by those lacking water or a latrine; the most-lacked
indicator of the kind counts, a lower bound of those lacking any); a road, crossing or grid need addresses
no indicator and is worth the village's poor households (for grid, the poor households without power). The
objective is the households served, counted once per need; the poor households served are reported beside
it. The MILP picks projects to maximise it within the budget, optionally with a minimum share of spending in region III
communes and at most N projects per 2025 unit; among equally good portfolios it takes the cheapest.
Travel times for coverage are those of the current network (an upgraded road does not change them).

The stages live in modules: `model` (costs, components, projects, needs, candidates and their evaluation),
`network` (candidates computed from the network), `imported` (candidates read from a file), `solve`
(the MILP and the tables of a plan). Every public name is importable from `geo.plan`.
"""

from __future__ import annotations

from geo.plan.imported import IMPORT_SNAP_KM, add_imported, read_candidate_file
from geo.plan.model import (
    DEPRIVATION_KINDS,
    EARTH,
    KIND_LABELS,
    NEED_KINDS,
    PAVED,
    PROJECT_KINDS,
    Candidates,
    Component,
    Costs,
    Evaluation,
    Need,
    PlanError,
    Project,
    is_paved,
    surface_key,
)
from geo.plan.network import PlanInputs, network_candidates
from geo.plan.solve import (
    CHOSEN_COLUMNS,
    NEXT_COLUMNS,
    PROJECT_FIELDS,
    TIE_BREAK,
    PlanOptions,
    PlanResult,
    next_best,
    optimise,
    plan,
    plan_layers,
)

__all__ = [
    "CHOSEN_COLUMNS",
    "DEPRIVATION_KINDS",
    "EARTH",
    "IMPORT_SNAP_KM",
    "KIND_LABELS",
    "NEED_KINDS",
    "NEXT_COLUMNS",
    "PAVED",
    "PROJECT_FIELDS",
    "PROJECT_KINDS",
    "TIE_BREAK",
    "Candidates",
    "Component",
    "Costs",
    "Evaluation",
    "Need",
    "PlanError",
    "PlanInputs",
    "PlanOptions",
    "PlanResult",
    "Project",
    "add_imported",
    "is_paved",
    "network_candidates",
    "next_best",
    "optimise",
    "plan",
    "plan_layers",
    "read_candidate_file",
    "surface_key",
]
