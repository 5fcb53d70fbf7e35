"""Benchmark `atlas build`: a full build, then a rebuild with unchanged inputs (which must be skipped).

Run: `.venv/bin/python bench/build.py [--repeat N]`; prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from geo.settings import DataSettings
from layers.build import build_warehouse


def main() -> None:
    """Time full and skipped builds into a temporary folder, from the configured mirrors."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = DataSettings(cache_dir=Path(tmp) / "cache", warehouse=Path(tmp) / "warehouse.gpkg")
        build_warehouse(settings)  # warm the source cache and the imports
        full, skipped = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            outcome = build_warehouse(settings, force=True)
            full.append(time.perf_counter() - start)
            assert not outcome.skipped
            start = time.perf_counter()
            outcome = build_warehouse(settings)
            skipped.append(time.perf_counter() - start)
            assert outcome.skipped
        size_mb = settings.warehouse.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| step | median s | min s | runs |\n|---|---|---|---|")
    print(f"| full build (`atlas build --force`) | {statistics.median(full):.2f} | {min(full):.2f} | {len(full)} |")
    print(f"| unchanged inputs (skipped) | {statistics.median(skipped):.3f} | {min(skipped):.3f} | {len(skipped)} |")
    print(f"\nwarehouse {size_mb:.1f} MB; peak resident memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
