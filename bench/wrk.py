"""wrk load runs shared by the benchmarks: one thread, N connections, a Lua report read back as JSON."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

REPORT_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "bytes": %d, "p50": %f, "p95": %f, "p99": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, summary.bytes, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""

ROTATE_LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def load(
    url: str,
    seconds: int,
    connections: int = 4,
    timeout: str | None = None,
    headers: dict[str, str] | None = None,
    paths: list[str] | None = None,
) -> dict[str, float]:
    """wrk's throughput (rps) and latency (p50, p95, p99 in ms) for one URL, or for `paths` in turn on its host.

    `headers` are sent with every request (e.g. a client's recorded Accept-Encoding and User-Agent).
    """
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "report.lua"
        script = REPORT_LUA
        if paths:
            script = ROTATE_LUA % ", ".join(json.dumps(p) for p in paths) + script
        lua.write_text(script)
        command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s"]
        command += ["--timeout", timeout] if timeout else []
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        out = subprocess.run([*command, "-s", str(lua), url], capture_output=True, text=True, check=True).stdout
    stats: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats
