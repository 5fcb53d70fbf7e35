"""Servers the benchmarks start on loopback: a free port, waiting until one answers, stopping it."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 600) -> None:
    """Wait until a URL answers 200 (the atlas's /health: once its worker has warmed, even in 0.0 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = r.read()
                if r.status == 200 and (
                    not url.endswith("/health") or json.loads(body)["warmed_in_seconds"] is not None
                ):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server's process (terminate, then kill after 20 s)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
