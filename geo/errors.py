"""Exceptions raised by the geo package; none of them knows about HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def validation_problem(errors: Sequence[Mapping[str, Any]], every: bool = False) -> str:
    """'location: message' of the first validation error (pydantic's list), or of every one joined by '; '."""
    shown = errors if every else errors[:1]
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in shown)


class GeoError(Exception):
    """Base class of every error the data and geometry code raises on purpose."""


class SourceError(GeoError):
    """A declared source cannot be found, fetched or read."""


class ChecksumError(SourceError):
    """A source file's sha256 differs from the one declared in the manifest."""

    def __init__(self, source_id: str, path: Path | str, expected: str, actual: str) -> None:
        self.source_id, self.path, self.expected, self.actual = source_id, str(path), expected, actual
        super().__init__(
            f"source '{source_id}': checksum mismatch for {path}: "
            f"manifest declares sha256 {expected}, file has {actual}"
        )


class InputDataError(GeoError):
    """An input file holds data the atlas cannot accept; names the file, row and column."""

    def __init__(
        self, path: Path | str, message: str, *, row: int | str | None = None, column: str | None = None
    ) -> None:
        self.path, self.row, self.column = str(path), row, column
        where = str(path)
        if isinstance(row, int):
            where += f", row {row}"
        elif row is not None:
            where += f", {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


class CrosswalkError(InputDataError):
    """The crosswalk between unit vintages is incomplete or inconsistent."""


class HarmonisationError(GeoError):
    """Boundaries of different vintages could not be reconciled."""


class WarehouseError(GeoError):
    """The warehouse could not be written, or a freshly built one failed validation."""
