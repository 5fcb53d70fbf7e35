"""Importer of the official lists of region I/II/III communes and especially difficult villages (thôn ĐBKK).

The ministry (Ủy ban Dân tộc, now Bộ Dân tộc và Tôn giáo) publishes, for each policy period, a list of
communes with their development region ("khu vực I / II / III") and a list of especially difficult
villages grouped by commune. Period 2021-2025 is keyed to the 200 pre-merger communes (grouped by former
district), period 2026-2030 to the 75 units of 1 July 2025. The layout read is described in
docs/official-lists.md. An import either succeeds entirely or raises ImportFailed with a row-by-row report.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.errors import InputDataError
from geo.importing import ImportFailed, ImportLimits, ImportReport, UnitIndex
from geo.names import clean_name, fold_ascii, full_key, match_key, nfc, normalize_code, split_unit_type
from geo.spreadsheets import Cell, Grid, _is_numbering_row, read_grid

PERIODS = ("2021-2025", "2026-2030")
HEADER_SCAN_ROWS = 20
FUZZY_RATIO = 0.85  # difflib ratio of a unique close spelling taken, with a warning
MAX_HEADER_WORDS = 8  # a longer cell is a title, not a column header
ROMAN = {"i": 1, "ii": 2, "iii": 3}

# Column fields and the (accent-free, lower-case, punctuation-free) header patterns naming them, in order.
HEADER_FIELDS: tuple[tuple[str, str], ...] = (
    ("stt", r"^(stt|tt|so tt|so thu tu)$"),
    ("note", r"^ghi chu\b"),
    ("region_n", r"^(khu vuc|kv) ?(iii|ii|i|1|2|3)$"),
    ("region", r"^(xep |phan dinh |thuoc )?(khu vuc|kv)\b"),
    ("code", r"^ma( so)?( xa| dvhc| don vi( hanh chinh)?)?$|^code$"),
    ("village", r"^(ten )?(cac )?(thon|ban|xom|lang|tieu khu|to dan pho)\b"),
    ("district", r"^(ten )?(huyen|quan)( thi xa| thanh pho)*$"),
    ("province", r"^(ten )?tinh( thanh pho)?$"),
    ("commune", r"^(ten( don vi)?|name|commune)$|\b(xa|phuong|thi tran|don vi|dvhc)\b"),
)
# Totals and subtotals ("Tổng cộng", "Cộng huyện Mai Sơn", "Toàn tỉnh"); stricter than geo.spreadsheets.TOTAL_ROW,
# which would take a village called "Tong Ho" for a total.
TOTALS = re.compile(r"^(tong cong|tong so|toan tinh|toan huyen|cong (huyen|thanh pho|thi xa|tinh|xa)\b|cong$|tong$)")
NUMBER_PREFIX = re.compile(r"^\s*(?:[IVXLC]+\b[.)]?|\d+(?:\.\d+)*[.)]?|[A-Za-z][.)])\s*(?=\S)")
NUMBER_ONLY = re.compile(r"[\dIVXLC.()\s]+")  # an STT cell: "1", "1.2", "IV", "(3)"
ROMAN_PREFIX = re.compile(r"^[IVXLC]+[.)]?\s+\S")
MARKS = frozenset({"x", "v", "1", "1.0", "+", "co", "✓", "✔", "●", "•"})
BLANK_MARKS = frozenset({"-", "–", "0", "0.0"})
VILLAGE_PREFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in ("diem dan cu", "to dan pho", "tieu khu", "ban", "thon", "xom", "lang", "khoi", "khu", "to")
)
DOCUMENT = re.compile(r"(\d{1,5})\s*/\s*(Q[ĐD])\s*[-‐–]\s*([0-9A-Za-zĐđ]+(?:\s*[-‐–]\s*[0-9A-Za-zĐđ]+)*)", re.I)
DATE = re.compile(r"ngay\s*(\d{1,2})\s*(?:[/.\-]|\s+thang\s+)\s*(\d{1,2})\s*(?:[/.\-]|\s+nam\s+)\s*(\d{4})")
TITLE_PERIOD = re.compile(r"giai doan\s*(20\d\d)\s*[-–—]\s*(20\d\d)")


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise InputDataError("official list", f"unknown period {period!r}; one of {', '.join(PERIODS)}")


@dataclass(frozen=True, eq=False)
class ListUnits:
    """What a list is matched against."""

    period: str
    units: pd.DataFrame  # code, name (bare or with type prefix), optional district_code, optional name_variants
    districts: pd.DataFrame | None  # code, name (2021-2025 only)
    old_names: pd.DataFrame | None  # old_name, new_code, new_name (2026-2030: names of merged pre-merger communes)
    villages: pd.DataFrame | None  # village_id, name, unit_code

    def __post_init__(self) -> None:
        _check_period(self.period)
        missing = {"code", "name"} - set(self.units.columns)
        if missing:
            raise InputDataError("official list", f"the units to match have no column {', '.join(sorted(missing))}")

    @classmethod
    def from_layers(cls, period: str, layers: Mapping[str, pd.DataFrame]) -> ListUnits:
        """Build from warehouse layers units_2025 / communes_2024 / districts_2024 / crosswalk_2025 / demo_villages."""
        _check_period(period)

        def layer(name: str) -> pd.DataFrame:
            if name not in layers:
                raise InputDataError("warehouse", f"has no layer {name!r}, needed to match a {period} list")
            frame = layers[name]
            return pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))

        villages: pd.DataFrame | None = None
        if period == "2026-2030":
            found = layer("units_2025")
            names = found["full_name"] if "full_name" in found else found["name"]
            units = pd.DataFrame({"code": found["code"].astype(str), "name": names.astype(str)})
            districts = None
            old_names: pd.DataFrame | None = None
            if "crosswalk_2025" in layers:
                old_names = _old_names(layer("crosswalk_2025"))
            unit_column = "unit_2025_code"
        else:
            found = layer("communes_2024")
            variants = found["name_variants"] if "name_variants" in found else pd.Series([""] * len(found))
            units = pd.DataFrame(
                {
                    "code": found["code"].astype(str).to_numpy(),
                    "name": found["name"].astype(str).to_numpy(),
                    "district_code": found["district_code"].astype(str).to_numpy(),
                    "name_variants": variants.fillna("").astype(str).to_numpy(),
                }
            )
            district_layer = layer("districts_2024")
            districts = pd.DataFrame(
                {"code": district_layer["code"].astype(str), "name": district_layer["name"].astype(str)}
            )
            old_names = None
            unit_column = "commune_2024_code"
        if "demo_villages" in layers:
            demo = layer("demo_villages")
            villages = pd.DataFrame(
                {"village_id": demo["village_id"], "name": demo["name"], "unit_code": demo[unit_column].astype(str)}
            )
        return cls(period, units, districts, old_names, villages)


def _old_names(crosswalk: pd.DataFrame) -> pd.DataFrame:
    """(old_name, new_code, new_name) for every name and spelling variant of a pre-merger commune."""
    records: list[dict[str, str]] = []
    variants = crosswalk.get("old_name_variants", pd.Series([""] * len(crosswalk), index=crosswalk.index))
    for old, extra, new_code, new_name in zip(
        crosswalk["old_name"], variants.fillna(""), crosswalk["new_code"], crosswalk["new_name"], strict=True
    ):
        for spelling in [str(old), *[v for v in str(extra).split("; ") if v.strip()]]:
            records.append({"old_name": spelling, "new_code": str(new_code), "new_name": str(new_name)})
    return pd.DataFrame(records, columns=["old_name", "new_code", "new_name"])


@dataclass
class OfficialList:
    """The communes (with their region class) and the especially difficult villages of one official list."""

    period: str
    document: str | None  # e.g. "60/QĐ-BDTTG"
    date: str | None  # ISO "2026-01-29"
    communes: pd.DataFrame  # unit_code, listed_name, region_class (Int64, <NA> in a village-only list), row
    villages: pd.DataFrame  # unit_code, listed_name, village_id (object, None when unmatched), row
    file: str = ""  # the file it was read from, for provenance

    STORED_COLUMNS = ("kind", "unit_code", "listed_name", "region_class", "village_id", "row")

    def to_table(self) -> pd.DataFrame:
        """The stored form: one row per listed commune ("commune") and village ("village"), with the list's
        period, document and date on every row."""
        communes = self.communes.assign(kind="commune", village_id=None)
        villages = self.villages.assign(kind="village", region_class=pd.NA)
        table = pd.concat([communes, villages], ignore_index=True)[list(self.STORED_COLUMNS)]
        return table.assign(period=self.period, document=self.document or "", date=self.date or "")

    @classmethod
    def from_table(cls, table: pd.DataFrame, file: str = "") -> OfficialList:
        """The list a stored table holds (see to_table)."""
        periods = set(table["period"])
        if len(periods) != 1 or not periods <= set(PERIODS):
            raise InputDataError(file or "official list", f"stored list has period(s) {sorted(periods)}")
        first = table.iloc[0] if len(table) else None
        document = str(first["document"]) if first is not None and str(first["document"]) not in ("", "nan") else None
        date = str(first["date"]) if first is not None and str(first["date"]) not in ("", "nan") else None
        communes = table[table["kind"] == "commune"]
        villages = table[table["kind"] == "village"]
        return cls(
            period=str(next(iter(periods))),
            document=document,
            date=date,
            communes=pd.DataFrame(
                {
                    "unit_code": communes["unit_code"].astype(str).to_numpy(),
                    "listed_name": communes["listed_name"].to_numpy(),
                    "region_class": pd.array(communes["region_class"], dtype="Int64"),
                    "row": communes["row"].astype("int64").to_numpy(),
                }
            ),
            villages=pd.DataFrame(
                {
                    "unit_code": villages["unit_code"].astype(str).to_numpy(),
                    "listed_name": villages["listed_name"].to_numpy(),
                    "village_id": [None if pd.isna(v) else str(v) for v in villages["village_id"]],
                    "row": villages["row"].astype("int64").to_numpy(),
                }
            ),
            file=file,
        )


# ----------------------------------------------------------------------------------------------------
# Matching
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Match:
    """A unit for a listed name (code None when there is none), how it was found, and what to report."""

    code: str | None
    how: str
    message: str = ""


def _one_edit(a: str, b: str) -> bool:
    """Whether a and b differ by at most one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


class _CommuneMatcher:
    """The units of a period, for matching listed names: exactly, without accents, misspelt, or as old names."""

    def __init__(self, units: ListUnits) -> None:
        frame = pd.DataFrame({"code": units.units["code"].astype(str), "name": units.units["name"].astype(str)})
        for column in ("district_code", "name_variants"):
            values = units.units[column] if column in units.units else pd.Series([""] * len(frame))
            frame[column] = values.fillna("").astype(str).to_numpy()
        districts = units.districts if units.districts is not None else pd.DataFrame({"code": [], "name": []})
        self.period = units.period
        self.index = UnitIndex(frame, districts.astype({"code": str, "name": str}))
        self.names: dict[str, str] = dict(zip(frame["code"], frame["name"], strict=True))
        self.district_names: dict[str, str] = dict(zip(districts["code"], districts["name"], strict=True))
        self.exact: dict[str, set[str]] = {}
        self.full: dict[str, set[str]] = {}
        self.folded: list[tuple[str, str]] = []
        for code, name, variants in zip(frame["code"], frame["name"], frame["name_variants"], strict=True):
            for spelling in [name, *[v for v in variants.split("; ") if v.strip()]]:
                self.exact.setdefault(code, set()).add(match_key(spelling))
                self.full.setdefault(code, set()).add(full_key(spelling))
                self.folded.append((fold_ascii(match_key(spelling)), code))
        self.old: dict[str, set[tuple[str, str]]] = {}
        if units.old_names is not None:
            for old, new_code, new_name in zip(
                units.old_names["old_name"], units.old_names["new_code"], units.old_names["new_name"], strict=True
            ):
                for key in (match_key(str(old)), fold_ascii(match_key(str(old)))):
                    self.old.setdefault(key, set()).add((str(new_code), str(new_name)))

    def label(self, code: str) -> str:
        """'Xã Chiềng Sơn (03985)'."""
        return f"{self.names[code]} ({code})"

    def district_label(self, code: str | None) -> str:
        """The name of a former district, or its code."""
        return self.district_names.get(code or "", code or "")

    def known(self, name: str) -> bool:
        """Whether a name is the exact or accent-free name of some unit."""
        key = match_key(name)
        return bool(self.index.by_name.get(key) or self.index.by_name.get(fold_ascii(key)))

    def match(self, code_text: str, name: str, district: str | None) -> _Match:
        """The unit a row names, by its code if it has one, else by its name within the district if known."""
        if code_text:
            return self._by_code(code_text, name)
        if not name:
            return _Match(None, "", "no commune name")
        found, _ = self.index.match(None, name, district)
        if found is not None:
            if match_key(name) in self.exact[found]:
                return _Match(found, "name")
            return _Match(found, "accents", f"{name!r} taken as {self.label(found)}: the accents differ")
        key = match_key(name)
        candidates = self.index.by_name.get(key) or self.index.by_name.get(fold_ascii(key), set())
        if district:
            candidates = {c for c in candidates if self.index.district_of[c] == district}
        if len(candidates) > 1:
            typed = {c for c in candidates if full_key(name) in self.full[c]}
            if len(typed) == 1:
                return _Match(next(iter(typed)), "name")
            listed = ", ".join(self.label(c) for c in sorted(candidates))
            return _Match(None, "", f"{name!r} names several communes: {listed}; add a district section or a code")
        if self.period == "2026-2030":
            old = self.old.get(key) or self.old.get(fold_ascii(key))
            if old:
                into = " or ".join(f"{new_name} ({new_code})" for new_code, new_name in sorted(old))
                return _Match(
                    None,
                    "",
                    f"{name!r} is a pre-merger commune, merged into {into} on 1 July 2025; "
                    "the 2026-2030 list must name the 2025 units",
                )
        fuzzy = self._fuzzy(name, district)
        if fuzzy is not None:
            return fuzzy
        where = f" in {self.district_label(district)}" if district else ""
        elsewhere = ""
        if district:
            others = self.index.by_name.get(key) or self.index.by_name.get(fold_ascii(key), set())
            if others:
                elsewhere = "; there is one in " + ", ".join(
                    f"{self.district_label(self.index.district_of[c])} ({self.label(c)})" for c in sorted(others)
                )
        kind = "unit of 1 July 2025" if self.period == "2026-2030" else "pre-merger commune"
        return _Match(None, "", f"no {kind} named {name!r}{where}{elsewhere}")

    def _by_code(self, code_text: str, name: str) -> _Match:
        try:
            code = normalize_code(code_text, 5)
        except ValueError:
            return _Match(None, "", f"{code_text!r} is not a 5-digit commune code")
        if code not in self.names:
            return _Match(None, "", f"unknown commune code {code}" + (f" ({name})" if name else ""))
        if (
            name
            and match_key(name) not in self.exact[code]
            and fold_ascii(match_key(name)) not in {fold_ascii(k) for k in self.exact[code]}
        ):
            return _Match(code, "code", f"code {code} is {self.names[code]} but the row names {name!r}; code kept")
        return _Match(code, "code")

    def _fuzzy(self, name: str, district: str | None) -> _Match | None:
        """A unique unit one edit away (accents ignored) or with a difflib ratio of at least FUZZY_RATIO."""
        key = fold_ascii(match_key(name))
        pool = [(k, c) for k, c in self.folded if not district or self.index.district_of.get(c) == district]
        near = sorted({c for k, c in pool if _one_edit(key, k)})
        if len(near) == 1:
            return _Match(near[0], "spelling", f"{name!r} taken as {self.label(near[0])}: one letter differs")
        if not near:
            ratios: dict[str, float] = {}
            for k, c in pool:
                ratio = difflib.SequenceMatcher(None, key, k).ratio()
                if ratio >= FUZZY_RATIO:
                    ratios[c] = max(ratio, ratios.get(c, 0.0))
            if len(ratios) == 1:
                code, ratio = next(iter(ratios.items()))
                return _Match(code, "spelling", f"{name!r} taken as {self.label(code)}: close spelling ({ratio:.2f})")
            near = sorted(ratios)
        if near:
            listed = ", ".join(self.label(c) for c in near)
            return _Match(None, "", f"no unit named {name!r}; it is close to several: {listed}")
        return None


def _village_keys(name: str) -> tuple[str, str, str]:
    """(full key, key without a 'Bản'/'Thôn' prefix, that without accents) of a village name."""
    key = match_key(name)
    words, folded = key.split(), fold_ascii(key).split()
    for prefix in VILLAGE_PREFIXES:
        n = len(prefix)
        if tuple(folded[:n]) == prefix and len(words) > n:
            words, folded = words[n:], folded[n:]
            break
    return key, " ".join(words), " ".join(folded)


class _VillageIndex:
    """The atlas's villages by unit, for matching listed village names."""

    STAGES = ("name", "name without its 'Bản/Thôn' prefix", "name without accents")

    def __init__(self, villages: pd.DataFrame | None) -> None:
        self.by_unit: dict[str, list[dict[str, list[str]]]] = {}
        if villages is None:
            return
        for vid, name, unit in zip(villages["village_id"], villages["name"], villages["unit_code"], strict=True):
            if not isinstance(name, str) or not name.strip() or pd.isna(vid):
                continue
            stages = self.by_unit.setdefault(str(unit), [{}, {}, {}])
            for stage, key in enumerate(_village_keys(name)):
                stages[stage].setdefault(key, []).append(str(vid))

    def match(self, unit: str, name: str) -> tuple[str | None, str]:
        """(village_id, how) or (None, why not)."""
        stages = self.by_unit.get(unit)
        if not stages:
            return None, "the atlas has no village points in this unit"
        for stage, key in enumerate(_village_keys(name)):
            ids = sorted(set(stages[stage].get(key, [])))
            if len(ids) == 1:
                return ids[0], self.STAGES[stage]
            if ids:
                return None, f"several of the atlas's villages have this name ({', '.join(ids)}); none chosen"
        return None, "not among the atlas's villages of this unit"


# ----------------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------------


def _header_key(text: str) -> str:
    return " ".join(re.sub(r"[()%:,;/\\\-.\[\]]", " ", fold_ascii(text)).split())


def _header_field(text: str) -> str | None:
    key = _header_key(text)
    if not key or len(key.split()) > MAX_HEADER_WORDS:
        return None
    return next((name for name, pattern in HEADER_FIELDS if re.search(pattern, key)), None)


def _class_of_label(text: str, *, digits: bool) -> int | None:
    """Region class named by a column label: 'Khu vực II', 'KV 3', or (under a 'Khu vực' parent) 'II'."""
    key = _header_key(text)
    m = re.fullmatch(r"(?:(?:khu vuc|kv) ?)?(iii|ii|i|1|2|3)", key)
    if not m or (not digits and m.group(1).isdigit()):
        return None
    return ROMAN.get(m.group(1)) or int(m.group(1))


@dataclass
class _Layout:
    """Where the header is and which column holds what."""

    header_rows: list[int]  # 0-based
    fields: dict[str, int]
    regions: dict[int, int] = field(default_factory=dict)  # region class -> column of "x" marks

    @property
    def has_region(self) -> bool:
        return "region" in self.fields or bool(self.regions)

    @property
    def has_village(self) -> bool:
        return "village" in self.fields


def _find_layout(grid: Grid, path: Path) -> _Layout:
    """The header row (and a 'I | II | III' row under a 'Khu vực' parent) and the columns it names."""
    best: tuple[int, _Layout] | None = None
    for i in range(min(HEADER_SCAN_ROWS, len(grid.rows))):
        fields: dict[str, int] = {}
        regions: dict[int, int] = {}
        for c, cell in enumerate(grid.rows[i]):
            name = _header_field(cell.text)
            if name == "region_n":
                cls = _class_of_label(cell.text, digits=True)
                if cls is not None:
                    regions.setdefault(cls, c)
            elif name is not None and name not in fields:
                fields[name] = c
        if len(regions) < 2:
            regions = {}
        elif "region" in fields:
            del fields["region"]
        layout = _Layout([i], fields, regions)
        if not ({"commune", "village"} & fields.keys()) or not (layout.has_region or layout.has_village):
            continue
        score = len(fields) + (1 if regions else 0)
        if best is None or score > best[0]:
            best = (score, layout)
    if best is None:
        raise InputDataError(
            path,
            f"no header row of an official list in the first {HEADER_SCAN_ROWS} rows (read as {grid.encoding}): "
            "expected a name column ('Tên xã', 'Tên đơn vị', 'Xã, phường' or 'Tên thôn', 'Thôn, bản') and a "
            "region column ('Khu vực', 'KV', or 'Khu vực I' | 'Khu vực II' | 'Khu vực III') or a village "
            "column. If the text looks garbled, pass the encoding (tcvn3, vni, utf-8)",
        )
    layout = best[1]
    _sub_header(grid, layout)
    return layout


def _sub_header(grid: Grid, layout: _Layout) -> None:
    """Take a row of 'I | II | III' under a 'Khu vực' header cell as three region columns."""
    h = layout.header_rows[-1]
    if "region" not in layout.fields or h + 1 >= len(grid.rows):
        return
    header, below = grid.rows[h], grid.rows[h + 1]
    start = layout.fields["region"]
    found: dict[int, int] = {}
    c = start
    while c < len(below):
        cls = _class_of_label(below[c].text, digits=False)
        if cls is None or cls in found:
            break
        found[cls] = c
        c += 1
    if len(found) < 2:
        return
    for j, cell in enumerate(below):
        text = cell.text.strip()
        if not start <= j < c and text and text != _text(header, j):
            return  # other cells of the row hold data, not a vertically merged header
    layout.regions = found
    del layout.fields["region"]
    layout.header_rows.append(h + 1)


def _text(row: list[Cell], column: int | None) -> str:
    if column is None or column >= len(row):
        return ""
    return nfc(row[column].text)


def _unmerged(row: list[Cell]) -> list[Cell]:
    """The row with copies of a horizontally merged cell blanked: read_grid repeats its text in every cell."""
    out: list[Cell] = []
    for c, cell in enumerate(row):
        text = cell.text.strip()
        if c > 0 and len(text) > 3 and text == row[c - 1].text.strip():
            out.append(Cell(""))
        else:
            out.append(cell)
    return out


def _strip_number(text: str) -> str:
    """'1. Xã Chiềng Sơn' -> 'Xã Chiềng Sơn'; 'I. TỈNH SƠN LA' -> 'TỈNH SƠN LA'."""
    return NUMBER_PREFIX.sub("", nfc(text), count=1)


def _is_son_la(text: str) -> bool:
    return fold_ascii(match_key(text)) == "son la"


def _title_text(grid: Grid, before: int) -> str:
    parts: list[str] = []
    for row in grid.rows[:before]:
        for cell in row:
            text = nfc(cell.text)
            if text and (not parts or parts[-1] != text):
                parts.append(text)  # merged title cells repeat their text in every cell
    return " ".join(parts)


def _title_document(title: str) -> tuple[str | None, str | None, str | None]:
    """(document number, ISO date, error) read from a title such as 'Kèm theo Quyết định số 60/QĐ-BDTTG ngày …'."""
    document = None
    folded = fold_ascii(title)
    m = DOCUMENT.search(title)
    if m:
        rest = re.sub(r"\s+", "", m.group(3))
        document = f"{m.group(1)}/QĐ-{rest}"
    fm = DOCUMENT.search(folded)
    dm = DATE.search(folded, fm.end() if fm else 0) or DATE.search(folded)
    if not dm:
        return document, None, None
    day, month, year = (int(g) for g in dm.groups())
    try:
        return document, dt.date(year, month, day).isoformat(), None
    except ValueError:
        return document, None, f"the title's date {day}/{month}/{year} is not a date"


def _iso_date(text: str, path: Path) -> str:
    """A date argument as ISO: '2026-01-29' or '29/01/2026'."""
    m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", text) or None
    parts: tuple[int, int, int] | None = None
    if m:
        parts = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    else:
        m = re.fullmatch(r"\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})\s*", text)
        if m:
            parts = (int(m.group(3)), int(m.group(2)), int(m.group(1)))
    try:
        if parts is None:
            raise ValueError
        return dt.date(*parts).isoformat()
    except ValueError:
        raise InputDataError(path, f"date {text!r} is not a date (use 2026-01-29 or 29/01/2026)") from None


# ----------------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Commune:
    """A commune named by the list: a region row, a commune section, or a commune cell of a village row."""

    code: str | None
    label: str
    row: int
    region: int | None = None


class _ListReader:
    """Walks the rows under the header: sections, totals, commune rows and village rows."""

    def __init__(
        self, path: Path, grid: Grid, layout: _Layout, units: ListUnits, allow_unmatched: bool, report: ImportReport
    ) -> None:
        self.path, self.grid, self.layout, self.units = path, grid, layout, units
        self.allow_unmatched, self.report = allow_unmatched, report
        self.matcher = _CommuneMatcher(units)
        self.village_index = _VillageIndex(units.villages)
        self.communes: list[_Commune] = []
        self.listed: dict[str, _Commune] = {}
        self.region_rows: dict[str, list[int]] = {}
        self.villages: list[dict[str, object]] = []
        self.village_rows: dict[tuple[str, str], list[int]] = {}
        self.cache: dict[tuple[str, str, str | None], _Commune] = {}
        self.district: str | None = None
        self.commune: _Commune | None = None
        self.other_province: str | None = None

    def as_listed(self, name: str) -> str:
        """A name as listed; TCVN3 text, which lost its accented capitals, re-capitalised (clean_name)."""
        return clean_name(name) if "tcvn3" in self.grid.encoding else name

    # -- walking ----------------------------------------------------------------------------------------

    def run(self) -> None:
        """Read every row below the header into communes and villages, reporting each."""
        fields = self.layout.fields
        for index in range(self.layout.header_rows[-1] + 1, len(self.grid.rows)):
            line = index + 1
            row = _unmerged(self.grid.rows[index])
            filled = [nfc(c.text) for c in row if c.text.strip()]
            if not filled:
                continue
            if _is_numbering_row(filled):
                self.report.add(line, "skipped", "column numbering row")
                continue

            def get(name: str, row: list[Cell] = row) -> str:
                return _text(row, fields.get(name))

            stt, commune, village, district = get("stt"), get("commune"), get("village"), get("district")
            label = commune or village or district or next((t for t in filled if not NUMBER_ONLY.fullmatch(t)), "")
            bare = _strip_number(label)
            if TOTALS.match(_header_key(bare)):
                self.report.add(line, "skipped", f"totals row ({label})")
                continue
            roman = bool(re.fullmatch(r"[IVXLC]+\.?", stt)) or bool(ROMAN_PREFIX.match(label))
            has_region = self._region_present(row)
            village_name = _strip_number(village)
            is_village = bool(village) and self._kind(village_name, roman) is None
            kind = None if is_village else self._kind(bare, roman and not has_region)
            if has_region and kind not in ("province", "district"):
                kind = None  # a region value makes a commune row, unless the name says province or district
            if kind == "province":
                self._province(line, label, bare)
                continue
            if self.other_province is not None:
                self.report.add(line, "skipped", f"row under {self.other_province}, not Sơn La")
                continue
            province = get("province")
            if province and not _is_son_la(province):
                self.report.add(line, "skipped", f"row of {province}, not Sơn La")
                continue
            if district and not (kind == "district" and bare == _strip_number(district)):
                self._district_cell(line, district)
            code = get("code")
            if is_village:
                if commune:
                    self._commune_cell(line, _strip_number(commune), code, region_row=row if has_region else None)
                self._village(line, village_name)
            elif kind == "district":
                self._district_section(line, bare)
            elif has_region:
                self._region_row(line, _strip_number(commune), code, row)
            elif self.layout.has_village and (kind == "commune" or (kind is None and commune)):
                self._commune_section(line, bare, code)
            elif kind is None and self.units.period == "2021-2025" and self.matcher.index.district(bare):
                self._district_section(line, bare)
            elif commune or kind == "commune":
                self.report.add(line, "error", f"{bare!r} has no region class: its 'Khu vực' cell is empty")
            else:
                self.report.add(line, "skipped", f"row without a commune name or a region class ({label})")
        self._duplicates()

    def _kind(self, bare: str, roman: bool) -> str | None:
        """'province', 'district' or 'commune' for a section label, None for a plain name."""
        unit_type, _ = split_unit_type(bare)
        if unit_type == "Tỉnh":
            return "province"
        if unit_type in ("Huyện", "Thành phố", "Thị xã") or fold_ascii(bare).startswith("quan "):
            return "district"
        if unit_type in ("Xã", "Phường", "Thị trấn"):
            return "commune"
        if _is_son_la(bare):
            return "province"
        if roman:  # Roman numbering marks provinces; a bare name numbered so is a province unless it is a unit
            if self.units.period == "2021-2025" and self.matcher.index.district(bare):
                return "district"
            return None if self.matcher.known(bare) else "province"
        return None

    def _region_present(self, row: list[Cell]) -> bool:
        if "region" in self.layout.fields:
            return bool(_text(row, self.layout.fields["region"]))
        return any(_text(row, c) and _text(row, c) not in BLANK_MARKS for c in self.layout.regions.values())

    # -- sections ---------------------------------------------------------------------------------------

    def _province(self, line: int, label: str, bare: str) -> None:
        self.district, self.commune = None, None
        if _is_son_la(bare):
            self.other_province = None
            self.report.add(line, "skipped", f"province section ({label})")
        else:
            self.other_province = bare
            self.report.add(line, "skipped", f"section of another province ({label}): its rows are skipped")

    def _district_section(self, line: int, bare: str) -> None:
        self.commune = None
        if self.units.period == "2026-2030":
            self.district = None
            self.report.add(line, "skipped", f"district section ({bare}); districts do not exist after 1 July 2025")
            return
        self.district = self.matcher.index.district(bare)
        if self.district is None:
            self.report.add(line, "error", f"district section {bare!r} names no former district of Sơn La")
        else:
            self.report.add(line, "skipped", f"district section ({bare}: {self.district})")

    def _district_cell(self, line: int, text: str) -> None:
        if self.units.period == "2026-2030":
            return
        code = self.matcher.index.district(_strip_number(text))
        if code is None:
            self.report.add(line, "error", f"district {text!r} is not a former district of Sơn La")
        self.district = code

    def _commune_section(self, line: int, bare: str, code: str) -> None:
        self.commune = self._resolve(line, bare, code, cached=False)

    def _commune_cell(self, line: int, name: str, code: str, *, region_row: list[Cell] | None) -> None:
        if region_row is not None:
            current = self.commune
            if current is not None and current.label == name and current.region is not None:
                self._check_same_region(line, current, region_row)  # the commune repeated on each village row
            else:
                self._region_row(line, name, code, region_row)
            return
        self.commune = self._resolve(line, name, code, cached=True)

    def _resolve(self, line: int, name: str, code: str, *, cached: bool) -> _Commune:
        """Match a commune named by a section or a commune cell; report it once; list it (no region)."""
        key = (match_key(name), code, self.district)
        if cached and key in self.cache:
            return self.cache[key]
        found = self._match(line, name, code)
        entry = _Commune(found.code, name, line)
        if cached:
            self.cache[key] = entry
        if found.code is not None and found.code not in self.listed:
            self.listed[found.code] = entry
            self.communes.append(entry)
        return entry

    def _match(self, line: int, name: str, code: str) -> _Match:
        found = self.matcher.match(code, name, self.district)
        if found.code is None:
            if self.allow_unmatched:
                self.report.add(line, "warning", f"{found.message}; left out (allow_unmatched)")
            else:
                self.report.add(line, "error", found.message)
        elif found.message:
            self.report.add(line, "warning", found.message)
        return found

    # -- data rows --------------------------------------------------------------------------------------

    def _region_class(self, row: list[Cell]) -> int:
        """The region class of a row (1, 2 or 3); ValueError naming the cell otherwise."""
        if "region" in self.layout.fields:
            column = self.layout.fields["region"]
            cell = row[column] if column < len(row) else Cell("")
            if cell.number is not None and cell.number in (1, 2, 3):
                return int(cell.number)
            text = nfc(cell.text)
            key = re.sub(r"^(khu vuc|kv)\s*", "", fold_ascii(text).strip()).strip(" .")
            value = ROMAN.get(key) or ({"1": 1, "2": 2, "3": 3}.get(key))
            if value is None:
                raise ValueError(f"region class {text!r} is not I, II or III")
            return value
        marked: list[int] = []
        for cls, column in sorted(self.layout.regions.items()):
            text = _text(row, column)
            folded = fold_ascii(text)
            if not text or folded in BLANK_MARKS:
                continue
            if folded not in MARKS:
                raise ValueError(f"{text!r} under 'Khu vực {'I' * cls}' is not a mark ('x')")
            marked.append(cls)
        if len(marked) != 1:
            raise ValueError(
                "marked in several region columns (" + ", ".join("I" * c for c in marked) + ")"
                if marked
                else "no region column marked"
            )
        return marked[0]

    def _region_row(self, line: int, name: str, code: str, row: list[Cell]) -> None:
        try:
            region = self._region_class(row)
        except ValueError as exc:
            self.report.add(line, "error", f"{exc} (commune {name!r})" if name else str(exc))
            self.commune = _Commune(None, name, line)
            return
        if not name and not code:
            self.report.add(line, "error", "a region class but no commune name")
            return
        found = self._match(line, name, code)
        entry = _Commune(found.code, name, line, region)
        self.commune = entry
        if found.code is None:
            return
        self.region_rows.setdefault(found.code, []).append(line)
        if found.code in self.listed and self.listed[found.code].region is None:
            self.communes.remove(self.listed[found.code])  # a section named it first
        if found.code not in self.listed or self.listed[found.code].region is None:
            self.listed[found.code] = entry
            self.communes.append(entry)

    def _check_same_region(self, line: int, current: _Commune, row: list[Cell]) -> None:
        try:
            region = self._region_class(row)
        except ValueError as exc:
            self.report.add(line, "error", str(exc))
            return
        if region != current.region:
            self.report.add(
                line,
                "error",
                f"{current.label!r} is in khu vực {'I' * (current.region or 0)} on row {current.row} "
                f"but {'I' * region} here",
            )

    def _village(self, line: int, text: str) -> None:
        current = self.commune
        if current is None:
            self.report.add(
                line,
                "error",
                f"village {text!r} has no commune: put a commune section row (e.g. 'Xã Chiềng Sơn') above it "
                "or a 'Tên xã' column",
            )
            return
        if current.code is None:
            self.report.add(
                line, "skipped", f"village {text!r}: its commune {current.label!r} (row {current.row}) was not matched"
            )
            return
        unit = current.code
        for name in (nfc(part) for part in re.split(r"[;,]", text)):
            if not name:
                continue
            vid, how = self.village_index.match(unit, name)
            if vid is None:
                self.report.add(
                    line, "warning", f"village {name!r} of {self.matcher.label(unit)}: {how}; kept without a village_id"
                )
            self.villages.append({"unit_code": unit, "listed_name": name, "village_id": vid, "row": line, "how": how})
            self.village_rows.setdefault((unit, match_key(name)), []).append(line)

    def _duplicates(self) -> None:
        for code, lines in self.region_rows.items():
            if len(lines) > 1:
                on = ", ".join(str(x) for x in lines[:-1]) + f" and {lines[-1]}"
                self.report.add(
                    lines[-1], "error", f"{self.matcher.label(code)} is listed {len(lines)} times, on rows {on}"
                )
        for (unit, _), lines in self.village_rows.items():
            if len(lines) > 1:
                on = ", ".join(str(x) for x in lines)
                self.report.add(
                    lines[-1],
                    "warning",
                    f"the same village is listed twice in {self.matcher.label(unit)} (rows {on}); both kept",
                )


# ----------------------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------------------


def import_official_list(
    path: Path,
    units: ListUnits,
    *,
    document: str | None = None,
    date: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    allow_unmatched: bool = False,
    limits: ImportLimits | None = None,
) -> tuple[OfficialList, ImportReport]:
    """Read a region list, a village list, or a file with both kinds of row."""
    path = Path(path)
    limits = limits or ImportLimits()
    if path.is_file():
        limits.check_size(path)
    grid = read_grid(path, encoding=encoding, sheet=sheet, max_rows=limits.max_rows)
    layout = _find_layout(grid, path)
    kinds = [k for k, present in (("regions", layout.has_region), ("villages", layout.has_village)) if present]
    report = ImportReport(str(path), "official_list_" + "_".join(kinds))
    report.details["period"] = units.period
    report.details["encoding"] = grid.encoding
    if grid.sheet:
        report.details["sheet"] = grid.sheet
    report.details["header rows"] = ", ".join(str(r + 1) for r in layout.header_rows)
    columns = {c: f for f, c in layout.fields.items()} | {c: f"region {'I' * k}" for k, c in layout.regions.items()}
    report.details["columns"] = ", ".join(f"{c + 1}:{f}" for c, f in sorted(columns.items()))
    if layout.has_region and "commune" not in layout.fields and "code" not in layout.fields:
        raise InputDataError(path, "a region column but no commune name column ('Tên xã', 'Tên đơn vị', 'Xã, phường')")

    title = _title_text(grid, layout.header_rows[0])
    title_document, title_date, date_problem = _title_document(title)
    if date_problem:
        report.add("title", "warning", date_problem)
    folded_title = fold_ascii(title)
    m = TITLE_PERIOD.search(folded_title)
    if m and f"{m.group(1)}-{m.group(2)}" != units.period:
        report.add("title", "error", f"the title is for giai đoạn {m.group(1)}-{m.group(2)}, not {units.period}")
    if document is not None and title_document is not None and document.strip() != title_document:
        report.add("title", "warning", f"the title names {title_document}; {document.strip()} (given) kept")
    final_document = document.strip() if document else title_document
    final_date = _iso_date(date, path) if date else title_date
    if date and title_date and final_date != title_date:
        report.add("title", "warning", f"the title is dated {title_date}; {final_date} (given) kept")
    if final_document:
        report.details["document"] = final_document
    if final_date:
        report.details["date"] = final_date

    reader = _ListReader(path, grid, layout, units, allow_unmatched, report)
    reader.run()
    if not reader.communes and not reader.villages and not report.errors:
        report.add("file", "error", f"no commune or village rows below the header (row {layout.header_rows[-1] + 1})")
    if report.errors:
        raise ImportFailed(report)

    communes = pd.DataFrame(
        {
            "unit_code": pd.Series([c.code for c in reader.communes], dtype=object),
            "listed_name": pd.Series([reader.as_listed(c.label) for c in reader.communes], dtype=object),
            "region_class": pd.array([c.region for c in reader.communes], dtype="Int64"),
            "row": pd.Series([c.row for c in reader.communes], dtype="int64"),
        }
    )
    villages = pd.DataFrame(
        {
            "unit_code": pd.Series([v["unit_code"] for v in reader.villages], dtype=object),
            "listed_name": pd.Series([reader.as_listed(str(v["listed_name"])) for v in reader.villages], dtype=object),
            "village_id": pd.Series([v["village_id"] for v in reader.villages], dtype=object),
            "row": pd.Series([v["row"] for v in reader.villages], dtype="int64"),
        }
    )
    for entry in reader.communes:
        assert entry.code is not None
        region = f", khu vực {'I' * entry.region}" if entry.region else ""
        report.add(entry.row, "imported", f"{reader.matcher.label(entry.code)}{region}")
    for v in reader.villages:
        target = f"village {v['village_id']}, matched by {v['how']}" if v["village_id"] else "no village_id"
        report.add(int(str(v["row"])), "imported", f"village {v['listed_name']!r} of {v['unit_code']}: {target}")
    if layout.has_region:
        counts = communes["region_class"].value_counts()
        report.details["communes by region"] = ", ".join(f"{'I' * k}: {int(counts.get(k, 0))}" for k in (1, 2, 3))
        missing = sorted(set(reader.matcher.names) - set(communes["unit_code"]))
        report.details["units not listed"] = str(len(missing)) + (
            ": " + ", ".join(reader.matcher.label(c) for c in missing[:10]) + (" …" if len(missing) > 10 else "")
            if missing
            else ""
        )
    else:
        report.details["communes"] = str(len(communes))
    if layout.has_village:
        matched = int(villages["village_id"].notna().sum())
        report.details["villages"] = f"{len(villages)} ({matched} matched to the atlas's villages)"
    return OfficialList(units.period, final_document, final_date, communes, villages, path.name), report
