"""``tradingmodel serve --paper``: the API over a replayed paper session that the server itself started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.api.conftest import free_port
from tradingmodel.store import get_engine
from tradingmodel.store.schema import Fill


def test_serve_paper_serves_the_session_it_runs(
    model_dir: Path, bars_file: Path, config_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "TRADINGMODEL_API_KEYS": "k-serve-paper",
    }
    cmd = [
        sys.executable,
        "-c",
        "from tradingmodel.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--workers",
        "0",
        "--paper",
        "--model",
        str(model_dir),
        "--data",
        str(bars_file),
        "--speed",
        "0",
        "--session",
        "sp",
        "--config",
        str(config_file),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        book: dict = {}
        while time.monotonic() < deadline:
            time.sleep(1.0)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/portfolio",
                    params={"session": "sp"},
                    headers={"X-API-Key": "k-serve-paper"},
                    timeout=5,
                )
            except httpx.TransportError:
                continue  # not listening yet
            if r.status_code == 200:
                book = r.json()
                if (book.get("session") or {}).get("status") == "finished":
                    break
        assert (book.get("session") or {}).get("status") == "finished", book
        assert book["session"]["name"] == "sp"
        with get_engine(env["DATABASE_URL"]).connect() as conn:
            fills = conn.execute(select(func.count()).select_from(Fill)).scalar_one()
        assert fills > 0  # the replayed session traded, and the API answered over the same database
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
