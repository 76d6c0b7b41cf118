"""A real Ray cluster: a head node started with ``ray start`` on loopback, the command joining it with
``--ray-address`` as a user would, the same figures as the serial run, and the cluster stopped after."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require
from tradingmodel.config import config_to_toml
from tradingmodel.walkforward.executors import LOOPBACK_ONLY

from .conftest import SPEC, app_config

FIGURES = ("folds", "pooled", "stitched", "significance", "failures", "words")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str | None:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.is_file() else shutil.which("ray")


@pytest.mark.slow  # a head node (~12 s here) and a worker that imports torch
def test_walkforward_on_a_ray_cluster_joined_by_address_matches_serial(serial_run, holed_bars, tmp_path) -> None:
    ray = _ray_cli()
    require(ray is not None, "the ray command (pip install 'tradingmodel[ray]')")
    port = _free_port()
    # Ray swaps 127.0.0.1 for the host's address unless told it runs on one machine (this variable,
    # despite its name): then the head, its workers and the driver all bind and talk on loopback only
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        LOOPBACK_ONLY: "0",
        # a one-machine test cluster on loopback, without token authentication: once an earlier local
        # instance had left ~/.ray/auth_token, the driver's connection failed here with "Authentication
        # token is missing or incorrect"
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    temp = Path(f"/tmp/tm-ray-{os.getpid()}-{port}")  # Ray's socket paths must stay short
    head_cmd = [
        str(ray),
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp}",
    ]
    log = (tmp_path / "head.log").open("w")
    head = subprocess.Popen(head_cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.monotonic()
        while "Ray runtime started" not in (tmp_path / "head.log").read_text():
            assert head.poll() is None, (tmp_path / "head.log").read_text()
            assert time.monotonic() - t0 < 120, "the head node did not start in 120 s"
            time.sleep(0.2)
        started = time.monotonic() - t0
        assert "Local node IP: 127.0.0.1" in (tmp_path / "head.log").read_text()  # bound to loopback
        data, cfg = tmp_path / "bars.parquet", tmp_path / "cfg.toml"
        holed_bars.to_parquet(data)
        cfg.write_text(config_to_toml(app_config()))
        args = ["--data", str(data), "--config", str(cfg), "--out", str(tmp_path / "wf"), "--json", "--no-report"]
        for k in ("train_days", "val_days", "test_days"):
            args += [f"--{k.replace('_', '-')}", str(SPEC[k])]
        args += ["--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "--db", f"sqlite:///{tmp_path}/wf.db"]
        code = "from tradingmodel.cli import main; main()"
        res = subprocess.run(
            [sys.executable, "-c", code, "walkforward", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 1, res.stderr[-3000:]  # the two tasks that fail in the serial run fail here too
        assert "on ray (1 worker(s))" in res.stderr, res.stderr[-3000:]  # the cluster's one CPU, not a local Ray
        s = json.loads(res.stdout[res.stdout.index("{") :])
        want = json.loads(json.dumps({k: serial_run.summary[k] for k in FIGURES}, default=str))
        for d in (want, s):  # the command draws 2,000 bootstrap samples, the fixture 300: all else is equal
            d["significance"].pop("sharpe_bootstrap")
            d["words"] = [w for w in d["words"] if not w.startswith("Sharpe")]
        assert {k: s[k] for k in FIGURES} == want
        print(f"ray head started in {started:.1f} s")
    finally:
        if head.poll() is None:
            head.send_signal(signal.SIGTERM)  # `ray start --block` stops the node's processes on SIGTERM
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                head.kill()
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever of this node's process group is left
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
