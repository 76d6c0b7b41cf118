"""SIGTERM: the slice in hand is committed, positions are closed with --flatten-on-exit, exit 0; starting
the session again continues the same run after its last bar."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

from tests.live.conftest import _child, run_forked
from tests.live.helpers import paper_args, session_store
from tradingmodel.store import dispose_engines


def test_sigterm_persists_and_exits_zero_then_the_session_continues(
    model_dir: Path, bars_file: Path, config_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    args = paper_args(bars_file, model_dir, config_file, url, "sig", tmp_path / "b")
    args[args.index("--speed") + 1] = "600"  # ten bars a second: still running when the signal comes
    dispose_engines()
    p = multiprocessing.get_context("fork").Process(target=_child, args=(args, {}))
    p.start()
    deadline = time.monotonic() + 120
    store = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            store = session_store(url, "sig")
            if len(store.events(types=["portfolio"])) >= 5:
                break
        except Exception:  # noqa: BLE001 - the run or its tables do not exist yet
            continue
    os.kill(p.pid, signal.SIGTERM)
    p.join(60)
    assert p.exitcode == 0
    assert store is not None
    first = len(store.events(types=["portfolio"]))
    assert 5 <= first < 150  # stopped early
    assert store.events(types=["session"])[-1]["data"]["message"] == "stopped"
    assert all(p["quantity"] == 0 for p in store.positions().values())  # flattened on exit
    assert run_forked(*paper_args(bars_file, model_dir, config_file, url, "sig", tmp_path / "b")) == 0
    times = [e["bar_time"] for e in store.events(types=["portfolio"])]
    assert len(set(times)) == 150 and store.run_id == session_store(url, "sig").run_id
