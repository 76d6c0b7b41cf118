"""Small walk-forward inputs: simulated minute bars aggregated to coarse bars (few samples, long calendar
spans), a tiny network, a strategy that trades, and one real local Ray instance for the whole session."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from tradingmodel.config import AppConfig, ModelConfig, TradingConfig
from tradingmodel.data import simulate
from tradingmodel.walkforward import WalkForwardSpec

TINY = {
    "sequence_length": 8,
    "hidden_size": 6,
    "num_layers": 1,
    "num_epochs": 2,
    "patience": 1,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "seed": 5,
}


def coarse_bars(symbols: list[str], days: int, *, seed: int = 1, minutes: int = 15, **kw: object) -> pd.DataFrame:
    """``simulate`` minute bars aggregated to ``minutes``-minute bars (open first, high max, low min, close
    last, volume sum), so that weeks of calendar time make a few hundred bars per symbol."""
    raw = simulate(symbols, days, seed=seed, **kw)
    key = [raw["symbol"], raw["timestamp"].dt.floor(f"{minutes}min")]
    g = raw.groupby(key, sort=True)
    out = g.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    ).reset_index()
    return out.rename(columns={"level_0": "symbol", "level_1": "timestamp"})


def app_config(**model: object) -> AppConfig:
    trading = TradingConfig(
        threshold_unit="sigma",
        buy_threshold=0.02,
        sell_threshold=0.02,
        volume_multiplier=0.0,
        max_holding_bars=8,
        stop_loss_threshold=0.01,
        take_profit_threshold=0.02,
    )
    return AppConfig(model=ModelConfig(**{**TINY, **model}), trading=trading)


# 3 weeks of training, 1 of validation, 1-week test periods
SPEC = {"train_days": 14, "val_days": 7, "test_days": 7}


def spec(**kw: object) -> WalkForwardSpec:
    return WalkForwardSpec(**{**SPEC, "n_boot": 300, **kw})


@pytest.fixture(scope="session")
def small_bars() -> pd.DataFrame:
    """Two symbols, 28 weekday sessions (38 calendar days) as 15-minute bars: 2 full folds + a partial one."""
    return coarse_bars(["AAA", "BBB"], 28, seed=4, signal=1.0)


@pytest.fixture(scope="session")
def holed_bars(small_bars: pd.DataFrame) -> pd.DataFrame:
    """BBB has no bars in the fourth week: fold 0's BBB task has no test bars, fold 1's no validation."""
    ts = small_bars["timestamp"]
    t0 = ts.min().normalize()
    hole = (small_bars["symbol"] == "BBB") & (ts >= t0 + pd.Timedelta(days=21)) & (ts < t0 + pd.Timedelta(days=28))
    return small_bars[~hole].reset_index(drop=True)


@pytest.fixture(scope="session")
def serial_run(holed_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    """The reference run that the other executors, the resumed CLI run and the database record match."""
    from tradingmodel.walkforward import make_executor, run_walkforward

    with make_executor("serial") as ex:
        return run_walkforward(holed_bars, spec(), app_config(), executor=ex, out_dir=tmp_path_factory.mktemp("s"))


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray instance for the test session (Ray has no local mode any more)."""
    from tests.conftest import require
    from tradingmodel.walkforward.executors import LOOPBACK_ONLY

    os.environ.setdefault(LOOPBACK_ONLY, "0")  # before ray's import: bind to 127.0.0.1 only
    try:
        import ray
    except ImportError:
        require(False, "ray (pip install 'tradingmodel[ray]')")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False
    )
    yield ray
    ray.shutdown()
