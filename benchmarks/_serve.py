"""`tradingmodel serve` in a subprocess for the benchmarks that measure the API and the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

SRC = str(Path(__file__).resolve().parents[1] / "src")


def wait_up(base: str, path: str, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    """Until ``base + path`` answers (any status); exits the benchmark if ``proc`` dies or it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(base + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def start_serve(url: str, cwd: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    """``tradingmodel serve`` on 127.0.0.1:``port`` over database ``url``, no training workers, once it
    answers ``/health``."""
    env = {**os.environ, "PYTHONPATH": SRC, "DATABASE_URL": url, "TRADINGMODEL_API_KEYS": key}
    cmd = [sys.executable, "-c", "from tradingmodel.cli import main; main()", "serve", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--workers", "0", "--log-level", "warning"], cwd=cwd, env=env)
    wait_up(f"http://127.0.0.1:{port}", "/health", proc)
    return proc
