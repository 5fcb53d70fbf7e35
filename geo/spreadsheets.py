"""Reading commune tables as offices write them: CSV or XLSX, Vietnamese headers, legacy encodings, quirks.

Handles: UTF-8/UTF-16/Windows-1252 bytes, TCVN3 and VNI text (geo.encodings), title rows above the
header, two-row headers with merged parent cells ("Hộ nghèo" over "Số hộ" | "Tỷ lệ (%)"), a column
numbering row under the header, district section rows ("I. Huyện Mai Sơn"), totals rows, numbers
stored as text with "." thousands separators and "," decimals, and percentages formatted in Excel.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo.encodings import ENCODINGS, detect, to_unicode, vietnamese_score
from geo.errors import InputDataError
from geo.indicators import COUNTS
from geo.names import fold_ascii, nfc

HEADER_SCAN_ROWS = 15

# Canonical fields and the (accent-free, lower-case) header patterns that name them, in priority order.
FIELD_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ignore", (r"^(stt|tt|so tt|ghi chu)$",)),
    ("near_poor_rate", (r"can ngheo.*ty le|ty le.*can ngheo",)),
    ("near_poor_households", (r"can ngheo",)),
    ("poor_rate", (r"ngheo.*ty le|ty le.*ngheo",)),
    ("poor_ethnic_minority_households", (r"ngheo.*(dtts|dan toc)",)),
    ("poor_households", (r"ngheo",)),
    ("ethnic_minority_households", (r"\bdtts\b|dan toc thieu so",)),
    ("n_especially_difficult_villages", (r"dbkk|dac biet kho khan",)),
    ("n_villages", (r"^(tong )?so (thon )?ban\b|^so thon\b",)),
    ("persons", (r"khau|dan so",)),
    ("households", (r"^(tong )?(so )?ho( dan( cu)?)?( \(ho\))?$|tong so ho",)),
    ("unit_code", (r"^ma( so)?( xa| dvhc| don vi)?\b|^code$",)),
    ("district", (r"huyen|^district$",)),
    ("unit_name", (r"^ten\b|^xa\b|phuong|don vi|^name$|^commune$",)),
    ("year", (r"^nam\b|^year$",)),
    ("new_rural", (r"\bntm\b|nong thon moi",)),
    ("region_class", (r"khu vuc|^kv\b",)),
)
RATE_ONLY = re.compile(r"^ty le\b")
COUNT_FIELDS = COUNTS
RATE_FIELDS = ("poor_rate", "near_poor_rate")
TOTAL_ROW = re.compile(r"^(tong( cong| so)?|cong|toan (tinh|huyen)|tong toan (tinh|huyen))\b")
SECTION_ROW = re.compile(r"^([ivxlc]+|[a-z]|\d+)[.)]?\s+(huyen|thanh pho|thi xa)\b")
NUMBERING = re.compile(r"^\(?\s*(\d{1,2}|[a-z]|[ivx]+)\s*\)?$")


def _is_numbering_row(texts: list[str]) -> bool:
    """A row numbering the columns: "1, 2, 3 …", "(1) (2) …", "A, B, 1, 2" or labels like "6=5/4"."""
    if len(texts) < 2:
        return False
    numbers = []
    for text in texts:
        folded = fold_ascii(text).strip()
        if re.match(r"^\d+\s*=", folded):
            continue
        if not NUMBERING.match(folded):
            return False
        digits = re.sub(r"\D", "", folded)
        if digits:
            numbers.append(int(digits))
    return all(b > a for a, b in itertools.pairwise(numbers))


def header_field(text: str) -> str | None:
    """The canonical field a header names, or None."""
    key = " ".join(re.sub(r"[()%:,/\-.]", " ", fold_ascii(text)).split())
    for name, patterns in FIELD_PATTERNS:
        if any(re.search(p, key) for p in patterns):
            return name
    return None


@dataclass
class Cell:
    """One cell: its text and, for spreadsheets, its numeric value and whether Excel shows it as a percentage."""

    text: str
    number: float | None = None
    percent: bool = False


@dataclass
class Grid:
    """The cells of a sheet, row by row, with 1-based source row numbers."""

    rows: list[list[Cell]]
    encoding: str
    sheet: str | None = None
    title_text: str = ""


@dataclass
class RawRow:
    """A data row: source row number, mapped fields and the district of its section, if any."""

    line: int
    values: dict[str, Cell]
    section_district: str | None


@dataclass
class ParsedTable:
    """The data rows of a table with what was skipped and why."""

    rows: list[RawRow]
    columns: dict[int, str]
    header_rows: list[int]
    encoding: str
    skipped: list[tuple[int, str]] = field(default_factory=list)
    title_year: int | None = None


def _decode_bytes(data: bytes, path: Path) -> tuple[str, str, str]:
    """(text, byte encoding, legacy reading) under which the bytes look most Vietnamese."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        base = "utf-8" if data.startswith(b"\xef\xbb\xbf") else "utf-16"
        try:
            candidates = [(data.decode("utf-8-sig" if base == "utf-8" else base), base)]
        except UnicodeDecodeError as exc:
            raise InputDataError(
                path,
                f"starts with a {base.upper()} byte-order mark but cannot be decoded as {base.upper()} "
                f"({exc.reason} at byte {exc.start:,} of {len(data):,}); is the file truncated or damaged?",
            ) from None
    else:
        try:
            candidates = [(data.decode("utf-8"), "utf-8")]
        except UnicodeDecodeError:
            candidates = [(data.decode(enc, errors="replace"), enc) for enc in ("cp1252", "cp1258")]
    best: tuple[float, str, str, str] | None = None
    for text, base in candidates:
        legacy = detect([text])
        score = vietnamese_score(to_unicode(text[:20000], legacy))
        if best is None or score > best[0]:
            best = (score, text, base, legacy)
    assert best is not None
    return best[1], best[2], best[3]


def _too_many_rows(path: Path, max_rows: int) -> InputDataError:
    return InputDataError(
        path,
        f"has more than {max_rows:,} rows, the import limit (ATLAS_IMPORT_MAX_ROWS); reading stopped there. "
        "Split the file or raise the limit",
    )


def read_grid(
    path: Path, *, encoding: str | None = None, sheet: str | None = None, max_rows: int | None = None
) -> Grid:
    """Read a CSV or XLSX file into a grid of cells, converting legacy Vietnamese text to Unicode.

    Reading stops with an error as soon as the file proves longer than max_rows rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "file does not exist")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows, sheet_name = _xlsx_rows(path, sheet, max_rows)
        legacy = encoding if encoding in ENCODINGS else detect([c.text for r in rows for c in r if c.text])
        return Grid(
            [[Cell(to_unicode(c.text, legacy), c.number, c.percent) for c in r] for r in rows],
            f"xlsx ({legacy})",
            sheet_name,
        )
    if suffix not in (".csv", ".txt", ".tsv"):
        raise InputDataError(path, f"unsupported table format {suffix!r}: use .csv or .xlsx")
    data = path.read_bytes()
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputDataError(path, "is not a text file (it contains NUL bytes); is it an old .xls? save it as .xlsx")
    if encoding in (None, "auto"):
        text, base, legacy = _decode_bytes(data, path)
    elif encoding in ENCODINGS:
        text, base, legacy = data.decode("cp1252", errors="replace"), "cp1252", encoding
        if encoding == "unicode":
            text, base, _ = _decode_bytes(data, path)
    else:
        try:
            text, base, legacy = data.decode(encoding), encoding, "unicode"
        except (LookupError, UnicodeDecodeError) as exc:
            raise InputDataError(path, f"cannot be decoded as {encoding}: {exc}") from exc
    text = to_unicode(text, legacy)
    dialect: Any = csv.excel_tab if suffix == ".tsv" or text.count("\t") > text.count(",") else csv.excel
    if dialect is csv.excel and text.count(";") > text.count(","):
        dialect = "semicolon"
        csv.register_dialect("semicolon", delimiter=";")
    lines: list[list[Cell]] = []
    for row in csv.reader(io.StringIO(text), dialect):
        if max_rows is not None and len(lines) >= max_rows:
            raise _too_many_rows(path, max_rows)
        lines.append([Cell(nfc(v)) for v in row])
    return Grid(lines, f"{base} ({legacy})" if legacy != "unicode" else base)


def _xlsx_rows(path: Path, sheet: str | None, max_rows: int | None = None) -> tuple[list[list[Cell]], str]:
    """The cells of one sheet, streamed (openpyxl read-only mode) and stopped past max_rows."""
    from openpyxl import load_workbook

    if max_rows is not None:
        _check_sheet_rows(path, max_rows)
    try:
        book = load_workbook(path, data_only=True, read_only=True)
    except Exception as exc:  # openpyxl raises many kinds for broken files
        raise InputDataError(path, f"cannot be read as an Excel workbook: {exc}") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputDataError(path, f"has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet else book.worksheets[0]
        rows: list[list[Cell]] = []
        try:
            for values in ws.iter_rows():
                if max_rows is not None and len(rows) >= max_rows:
                    raise _too_many_rows(path, max_rows)
                rows.append([_xlsx_cell(cell) for cell in values])
            merged = _merged_ranges(ws)
        except InputDataError:
            raise
        except Exception as exc:  # a damaged sheet part: zip, XML or value errors
            raise InputDataError(path, f"cannot be read as an Excel workbook: {exc}") from exc
        title = str(ws.title)
    finally:
        book.close()
    width = max((len(r) for r in rows), default=0)
    for row in rows:
        row.extend(Cell("") for _ in range(width - len(row)))
    for min_row, min_col, max_row, max_col in merged:  # every cell of a merged range shows its anchor
        if min_row > len(rows) or min_col > width:
            continue
        anchor = rows[min_row - 1][min_col - 1]
        for r in range(min_row, min(max_row, len(rows)) + 1):
            for c in range(min_col, min(max_col, width) + 1):
                rows[r - 1][c - 1] = anchor
    return rows, title


ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>/]")


def _check_sheet_rows(path: Path, max_rows: int) -> None:
    """Refuse a workbook with a sheet longer than max_rows, counting its row tags in the compressed stream.

    openpyxl scans a whole sheet that declares no dimension before it yields a row, so this runs first.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for part in archive.namelist():
                if not re.fullmatch(r"xl/worksheets/[^/]+\.xml", part):
                    continue
                count, data = 0, b""
                with archive.open(part) as stream:
                    while True:
                        chunk = stream.read(1 << 20)
                        data += chunk
                        cut = max(len(data) - 16, 0) if chunk else len(data)  # a tag may straddle two chunks
                        count += sum(1 for m in ROW_TAG.finditer(data) if m.start() < cut)
                        data = data[cut:]
                        if count > max_rows:
                            raise _too_many_rows(path, max_rows)
                        if not chunk:
                            break
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputDataError(path, f"cannot be read as an Excel workbook: {exc}") from exc


def _xlsx_cell(cell: Any) -> Cell:
    value = getattr(cell, "value", None)
    if value is None:
        return Cell("")
    if isinstance(value, bool):
        return Cell(str(value))
    if isinstance(value, int | float):
        return Cell(repr(value), float(value), "%" in (getattr(cell, "number_format", None) or ""))
    return Cell(nfc(str(value)))


def _merged_ranges(ws: Any) -> list[tuple[int, int, int, int]]:
    """(min_row, min_col, max_row, max_col) of each merged range, read from the sheet's XML (read-only mode)."""
    from openpyxl.utils.cell import range_boundaries

    found: list[tuple[int, int, int, int]] = []
    with ws._get_source() as src:  # read-only worksheets do not parse <mergeCells>
        for _, elem in ET.iterparse(src):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "mergeCell" and elem.get("ref"):
                min_col, min_row, max_col, max_row = range_boundaries(str(elem.get("ref")))
                found.append((int(min_row or 1), int(min_col or 1), int(max_row or 1), int(max_col or 1)))
            elif tag in ("row", "c"):
                elem.clear()
    return found


def parse_table(
    grid: Grid,
    path: Path,
    header: Callable[[str], str | None] = header_field,
    expected: str = "'Mã xã', 'Tên đơn vị', 'Tổng số hộ', 'Số hộ nghèo'",
) -> ParsedTable:
    """Find the header (one or two rows), map columns to fields (by `header`) and collect the data rows."""
    best: tuple[int, list[int], dict[int, str]] | None = None
    limit = min(HEADER_SCAN_ROWS, len(grid.rows))
    for i in range(limit):
        for span in (1, 2):
            if i + span > len(grid.rows):
                continue
            if span == 2 and any(
                c.number is not None or re.fullmatch(r"[\d.,\s%]+", c.text) for c in grid.rows[i + 1] if c.text
            ):
                continue  # a row of numbers is data, not the second row of a header
            columns = _map_header(grid.rows[i : i + span], header)
            score = sum(1 for f in columns.values() if f != "ignore")
            if best is None or score > best[0] or (score == best[0] and span == 2 and best[1][0] == i):
                best = (score, list(range(i, i + span)), columns)
    if best is None or best[0] < 2:
        raise InputDataError(
            path,
            f"no header row with known columns in the first {HEADER_SCAN_ROWS} rows (read as {grid.encoding}); "
            f"expected Vietnamese headers such as {expected}. "
            "If the text looks garbled, pass --encoding tcvn3, vni or utf-8",
        )
    _, header_rows, columns = best
    title = " ".join(c.text for r in grid.rows[: header_rows[0]] for c in r if c.text)
    m = re.search(r"(?:năm|nam)\s+(20\d\d)", title, re.IGNORECASE)
    table = ParsedTable(
        [], columns, [h + 1 for h in header_rows], grid.encoding, title_year=int(m.group(1)) if m else None
    )
    section: str | None = None
    name_col = next((c for c, f in columns.items() if f == "unit_name"), None)
    for index in range(header_rows[-1] + 1, len(grid.rows)):
        line = index + 1
        row = grid.rows[index]
        texts = [c.text.strip() for c in row]
        if not any(texts):
            continue
        if _is_numbering_row([t for t in texts if t]):
            table.skipped.append((line, "column numbering row"))
            continue
        label = fold_ascii(row[name_col].text).strip() if name_col is not None and name_col < len(row) else ""
        first_text = next((fold_ascii(t) for t in texts if t and not re.match(r"^[\d.,\s]+$", t)), "")
        if SECTION_ROW.match(label or first_text) or re.match(r"^(huyen|thanh pho|thi xa)\b", label):
            section = re.sub(
                r"^([ivxlcIVXLC]+|[a-zA-Z]|\d+)[.)]\s*",
                "",
                row[name_col].text.strip() if label and name_col is not None else next(t for t in texts if t),
            )
            table.skipped.append((line, f"district section or subtotal row ({section})"))
            continue
        if TOTAL_ROW.match(label or first_text):
            table.skipped.append((line, "totals row"))
            continue
        values = {f: row[c] for c, f in columns.items() if f != "ignore" and c < len(row)}
        table.rows.append(RawRow(line, values, section))
    return table


def _map_header(rows: list[list[Cell]], header: Callable[[str], str | None] = header_field) -> dict[int, str]:
    """Columns named by a one- or two-row header; parents of merged cells are carried right."""
    width = max(len(r) for r in rows)
    texts = []
    for c in range(width):
        parts = []
        for r_index, row in enumerate(rows):
            text = row[c].text.strip() if c < len(row) else ""
            if not text and r_index < len(rows) - 1:
                # an empty cell in the parent row continues the parent cell to its left
                for back in range(c - 1, -1, -1):
                    left = row[back].text.strip() if back < len(row) else ""
                    if left:
                        below = rows[-1][back].text.strip() if back < len(rows[-1]) else ""
                        text = left if below else ""
                        break
            if text and text not in parts:
                parts.append(text)
        texts.append(" ".join(parts))
    columns: dict[int, str] = {}
    last_count: str | None = None
    for c, text in enumerate(texts):
        if not text:
            continue
        key = " ".join(re.sub(r"[()%:,/\-.]", " ", fold_ascii(text)).split())
        if RATE_ONLY.match(key) and last_count in ("poor_households", "near_poor_households"):
            name: str | None = "poor_rate" if last_count == "poor_households" else "near_poor_rate"
        else:
            name = header(text)
        if name is None or (name in columns.values() and name != "ignore"):
            continue
        columns[c] = name
        if name in COUNT_FIELDS:
            last_count = name
    return columns


def parse_count(cell: Cell) -> int | None:
    """A whole count from a cell: '1.234', '1 234', '1,234' and 1234.0 are 1234; '' is None."""
    if cell.number is not None:
        if cell.number != int(cell.number):
            raise ValueError(f"{cell.number:g} is not a whole number")
        value = int(cell.number)
    else:
        text = cell.text.replace("\u00a0", " ").strip()
        if text in ("", "-", "–"):
            return None
        compact = text.replace(" ", "")
        if re.fullmatch(r"[+-]?\d{1,3}([.,]\d{3})+", compact):
            compact = re.sub(r"[.,]", "", compact)
        if not re.fullmatch(r"[+-]?\d+", compact):
            raise ValueError(f"{text!r} is not a whole number")
        value = int(compact)
    if value < 0:
        raise ValueError(f"negative count {value}")
    return value


def parse_rate(cell: Cell) -> float | None:
    """A percentage from a cell: '12,5', '12.5%', 12.5, or 0.125 shown by Excel as a percentage."""
    if cell.number is not None:
        return cell.number * 100 if cell.percent else cell.number
    text = cell.text.replace("%", "").replace("\u00a0", "").strip()
    if text in ("", "-", "–"):
        return None
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{cell.text!r} is not a percentage") from None
