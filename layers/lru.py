"""Bounded least-recently-used caches shared by the tile, map and analysis backends.

A cache's size counts every entry, empty ones included: each entry is charged its value's size plus a
fixed overhead for its key and bookkeeping, so a cache of many empty tiles is bounded like any other.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
ENTRY_OVERHEAD = 200  # bytes charged per entry besides its value: key tuple, dict slot, list node (measured ~180)


class LRU(Generic[V]):
    """A thread-safe LRU map bounded by a total size and, optionally, a number of entries."""

    def __init__(self, max_bytes: int, size: Callable[[V], int], max_entries: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._size_of = size
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: Hashable) -> V | None:
        """The value, marked as most recently used, or None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: V) -> None:
        """Store a value, evicting the least recently used entries past the bounds."""
        charge = self._size_of(value) + ENTRY_OVERHEAD
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if charge > self.max_bytes:  # larger than the whole cache: not kept
                return
            self._items[key] = (value, charge)
            self._bytes += charge
            while self._bytes > self.max_bytes or (
                self.max_entries is not None and len(self._items) > self.max_entries
            ):
                _, (_, freed) = self._items.popitem(last=False)
                self._bytes -= freed
                self.evictions += 1

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value, or make it (outside the lock) and keep it."""
        hit = self.get(key)
        if hit is not None:
            return hit
        value = make()
        self.put(key, value)
        return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def count(self, test: Callable[[V], bool]) -> int:
        """How many entries hold a value passing the test."""
        with self._lock:
            return sum(1 for value, _ in self._items.values() if test(value))

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, Any]:
        """Entries, charged bytes, bound and evictions so far."""
        with self._lock:
            return {
                "entries": len(self._items),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "evictions": self.evictions,
            }
