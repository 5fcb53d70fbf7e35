"""wrk load runs shared by the benchmarks: one thread, N connections, a Lua report read back as JSON."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

REPORT_LUA = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %f, "p50": %f, "p95": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def load(url: str, seconds: int, connections: int = 4, timeout: str | None = None) -> dict[str, float]:
    """wrk's throughput (rps) and latency (p50, p95 in ms) for one URL."""
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "report.lua"
        lua.write_text(REPORT_LUA)
        command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s"]
        command += ["--timeout", timeout] if timeout else []
        out = subprocess.run([*command, "-s", str(lua), url], capture_output=True, text=True, check=True).stdout
    stats: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats
