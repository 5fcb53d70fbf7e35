"""Helpers for pandas frames: rows with attribute access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd


def rows(frame: pd.DataFrame) -> Iterator[Any]:
    """Rows of a frame as named tuples (attribute access by column name)."""
    yield from frame.itertuples(index=False)
