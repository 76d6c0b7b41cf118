"""With no data source a session trades the embedded simulator: warmed up at once, then bar by bar."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from tests.live.conftest import SYMBOLS
from tests.live.helpers import session_store
from tradingmodel.config import load_config
from tradingmodel.live.session import run_session
from tradingmodel.live.sources import simulator_source


def test_simulator_session_predicts_from_its_first_slice(model_dir: Path, tmp_path: Path) -> None:
    src = simulator_source(SYMBOLS, days=1, speed=0, warmup_slices=60)
    url = f"sqlite:///{tmp_path}/sim.db"

    frozen: list[int] = []

    def on_start(engine) -> None:
        async def watch() -> None:
            while engine.stats.slices < 20:
                await asyncio.sleep(0.01)
            frozen.append(gc.get_freeze_count())
            engine.request_stop()

        engine.watch_task = asyncio.get_running_loop().create_task(watch())

    res = asyncio.run(
        run_session(
            name="sim",
            symbols=SYMBOLS,
            model_dir=model_dir,
            source=src,
            config=load_config(None),
            database_url=url,
            broker_dir=tmp_path / "b",
            on_start=on_start,
            handle_signals=False,
        )
    )
    assert res.status == "stopped" and 20 <= res.stats.slices < 390 - 60
    # while trading, what the session loaded is out of the cyclic collector's scans (a full one: ~0.1-0.2 s)
    assert frozen and frozen[0] > 10_000 and gc.get_freeze_count() == 0
    store = session_store(url, "sim")
    first = min(e["bar_time"] for e in store.events(types=["portfolio"]))
    preds = store.events(types=["prediction"])
    assert {e["symbol"] for e in preds if e["bar_time"] == first} == set(SYMBOLS)  # no warm-up wait
