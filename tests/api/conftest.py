"""API test fixtures: a real uvicorn server on 127.0.0.1 over a real database (SQLite and PostgreSQL).

``api`` is a server in a thread of the test process (fast to start; training workers, when asked for, are
real subprocesses); :class:`ServeProcess` runs ``tradingmodel serve`` as a subprocess for the crash tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import torch
import uvicorn
from sqlalchemy import Engine, insert

from tests.store.conftest import db_url, pg_databases, pg_session_url  # noqa: F401 - fixtures
from tradingmodel.api import ApiConfig, create_app
from tradingmodel.config import ModelConfig
from tradingmodel.data import simulate
from tradingmodel.model import train
from tradingmodel.store import get_engine, ingest_bars, save_model
from tradingmodel.store.schema import Event, utcnow

KEY = "test-key-0123456789"
HEADERS = {"X-API-Key": KEY}
SYMBOL = "AAA"
# Tiny network (trains in ~2 s on one core); sequence 20.
TINY = {
    "sequence_length": 20,
    "hidden_size": 8,
    "num_layers": 1,
    "num_epochs": 3,
    "patience": 2,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "seed": 3,
}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Api:
    """A running server: ``base`` URL, an httpx client with the key, the database engine and URL."""

    base: str
    client: httpx.Client
    engine: Engine
    url: str
    app: Any

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")


class ThreadServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", ws="websockets-sansio"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_api(url: str, tmp: Path, **overrides: Any) -> tuple[ThreadServer, Api]:
    cfg = ApiConfig(
        database_url=url,
        api_keys=[KEY, "second-key"],
        models_dir=tmp / "models",
        workers=overrides.pop("workers", 0),
        heartbeat_s=overrides.pop("heartbeat_s", 0.5),
        poll_s=0.05,
        **overrides,
    )
    app = create_app(cfg)
    srv = ThreadServer(app).__enter__()
    base = f"http://127.0.0.1:{srv.port}"
    return srv, Api(base, httpx.Client(base_url=base, headers=HEADERS, timeout=60), get_engine(url), url, app)


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:  # noqa: F811
    """A server without training workers on an empty database."""
    srv, a = start_api(db_url, tmp_path)
    try:
        yield a
    finally:
        a.client.close()
        srv.__exit__()


@pytest.fixture(scope="session")
def sim_bars() -> pd.DataFrame:
    """Four sessions of simulated minute bars of two symbols (regular hours)."""
    return simulate([SYMBOL, "BBB"], 4, seed=5, signal=1.0)


@pytest.fixture(scope="session")
def model_dir(sim_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on ``sim_bars``' first symbol (read-only)."""
    out = tmp_path_factory.mktemp("model")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(sim_bars[sim_bars["symbol"] == SYMBOL], ModelConfig(**TINY), out, progress=False)
    finally:
        torch.set_num_threads(before)
    return out


@pytest.fixture
def stored(api: Api, sim_bars: pd.DataFrame) -> Api:
    """``api`` with ``sim_bars`` in its database."""
    ingest_bars(api.engine, sim_bars)
    return api


@pytest.fixture
def with_model(stored: Api, model_dir: Path) -> tuple[Api, int]:
    """``stored`` plus the tiny model registered for AAA; returns (api, model id)."""
    mid = save_model(stored.engine, "tiny", str(model_dir), {"direction_accuracy": 50.0}, symbols=[SYMBOL])
    return stored, mid


def add_event(
    engine: Engine,
    type_: str,
    data: dict[str, Any],
    *,
    run_id: int | None = None,
    symbol: str | None = None,
    bar_time: datetime | None = None,
) -> int:
    """Append one event as the live engine would (in its own transaction); returns its id."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(Event.__table__)
                .values(run_id=run_id, type=type_, symbol=symbol, bar_time=bar_time, data=data, created_at=utcnow())
                .returning(Event.__table__.c.id)
            ).scalar_one()
        )


def wait_for(pred: Any, timeout: float = 30.0, every: float = 0.05, what: str = "condition") -> Any:
    """Poll ``pred`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


class ServeProcess:
    """``tradingmodel serve`` in its own process group (so the test can kill the server and its workers)."""

    def __init__(self, url: str, cwd: Path, port: int | None = None, workers: int = 1) -> None:
        self.port = port or free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TRADINGMODEL_API_KEYS": KEY,
            "PYTHONPATH": SRC,
            "OMP_NUM_THREADS": "1",
        }
        self.log = (cwd / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from tradingmodel.cli import main; main()",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--models",
                str(cwd / "models"),
                "--log-level",
                "warning",
            ],
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for(self._up, 60, 0.2, "the server to answer /health")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited with {self.proc.returncode}")
        try:
            return httpx.get(self.base + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL the server and every worker it started (the whole process group)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
