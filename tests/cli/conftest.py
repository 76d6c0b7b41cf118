"""Helpers for running the real ``tradingmodel`` command in a subprocess, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tradingmodel.config import ModelConfig
from tradingmodel.data import read_bar_file, simulate, write_bars
from tradingmodel.model import train

MAIN = "from tradingmodel.cli import main; main()"
SMALL = {"sequence_length": 20, "hidden_size": 8, "num_layers": 1, "num_epochs": 1, "batch_size": 64, "seed": 3}


def cli_env(**changes: str) -> dict[str, str]:
    """The test's environment (PYTHONPATH included) with ``changes``; no API key or database from outside."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POLYGON_API_KEY")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(changes)
    return env


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """``tradingmodel ARGS`` in a subprocess in the current directory; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-c", MAIN, *map(str, args)],
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr (``error: …``) holding every needle, no traceback anywhere."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def bar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sessions of one simulated symbol."""
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    write_bars(simulate(["AAA"], 2, seed=3, signal=1.0), path)
    return path


@pytest.fixture(scope="session")
def small_model(bar_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch model of ``bar_file`` (read-only: tests copy it before damaging it)."""
    out = tmp_path_factory.mktemp("model") / "m"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(read_bar_file(bar_file), ModelConfig(**SMALL), out, progress=False)
    finally:
        torch.set_num_threads(before)
    return out
