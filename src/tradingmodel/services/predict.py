"""One prediction for the API: the next close after the last bar, its confidence, and the entry decision
the strategy would take on it, with each entry rule and whether it passed.

The decision itself comes from the strategy's compiled :func:`tradingmodel.strategy.entry_signal` (the
one implementation of the rules); the rule list explains it and is checked against it by the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from tradingmodel.config import TradingConfig
from tradingmodel.data import BarValidationError, validate_bars
from tradingmodel.features import WARMUP_BARS, feature_arrays
from tradingmodel.features.batch import ALL_NAMES
from tradingmodel.model import CheckpointError, predict
from tradingmodel.model.checkpoint import load_checkpoint, resolve_model_dir
from tradingmodel.services.bars import LOOKBACK_BARS, latest_bars
from tradingmodel.services.errors import Conflict, Invalid, NotFound
from tradingmodel.services.inputs import regular_session
from tradingmodel.store import list_models
from tradingmodel.store.schema import Model

MAX_POSTED_BARS = 5_000


@dataclass
class Rule:
    """One entry rule on the last bar: what it compares and whether it held."""

    rule: str
    passed: bool
    value: float | None
    threshold: float | None


@dataclass
class Signal:
    """The entry the strategy would take after the last bar (``long``, ``short`` or ``none``) and why."""

    decision: str
    reason: str
    long_rules: list[Rule] = field(default_factory=list)
    short_rules: list[Rule] = field(default_factory=list)


@dataclass
class Prediction:
    """The prediction made after bar ``bar_time`` closed, for the next bar's close."""

    symbol: str
    model_id: int
    bar_time: pd.Timestamp
    close: float
    predicted_close: float
    confidence: float
    signal: Signal


def _model_row(engine: Engine, symbol: str, model_id: int | None) -> dict[str, Any]:
    if model_id is not None:
        with engine.connect() as conn:
            row = conn.execute(select(Model.__table__).where(Model.id == model_id)).first()
        if row is None:
            raise NotFound(f"no model with id {model_id}")
        m = dict(row._mapping)
        if symbol not in (m["symbols"] or []):
            raise Invalid(f"model {model_id} was not trained on {symbol} (trained on {', '.join(m['symbols'])})")
        return m
    m = active_model(engine, symbol)
    if m is None:
        raise NotFound(f"no model trained on {symbol}: train one (POST /api/v1/model/train)")
    return m


def active_model(engine: Engine, symbol: str) -> dict[str, Any] | None:
    """The newest registered model trained on ``symbol`` (the one predictions use by default)."""
    return next((m for m in list_models(engine, limit=10_000) if symbol in (m["symbols"] or [])), None)


def _sequence_length(path: str, symbol: str) -> int:
    try:
        return load_checkpoint(resolve_model_dir(path)[symbol]).config.sequence_length
    except (CheckpointError, KeyError, OSError) as e:
        raise Conflict(f"the files of model {path} cannot be used: {e}") from None


def posted_bars(symbol: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Bars from a request body, validated like a bar file (the message names the row and the problem)."""
    if not rows:
        raise Invalid("bars: empty list")
    if len(rows) > MAX_POSTED_BARS:
        raise Invalid(f"bars: at most {MAX_POSTED_BARS} bars per request, got {len(rows)}")
    kinds = {type(r.get("timestamp")) for r in rows}
    if len(kinds) > 1:
        raise Invalid("bars: timestamps must be all ISO 8601 strings or all epoch milliseconds")
    frame = pd.DataFrame(rows)
    frame["symbol"] = symbol
    try:
        return regular_session(validate_bars(frame, source="request bars", sort=False))
    except BarValidationError as e:
        raise Invalid(str(e)) from None


def explain(close: float, pred: float, feats: dict[str, float], t: TradingConfig) -> Signal:
    """The entry rules of :func:`tradingmodel.strategy.entry_signal` on one bar, and its decision."""
    from tradingmodel.strategy import entry_signal

    sigma = t.threshold_unit == "sigma"
    rsi, vol, vol_avg, ret_std = feats["rsi14"], feats["volume"], feats["volume_sma20"], feats["ret_std20"]
    up = close * (1 + t.buy_threshold * (ret_std if sigma else 0.01))
    down = close * (1 - t.sell_threshold * (ret_std if sigma else 0.01))

    def rule(name: str, ok: bool, value: float, threshold: float) -> Rule:
        fin = [None if not math.isfinite(x) else float(x) for x in (value, threshold)]
        return Rule(name, bool(ok) and None not in fin, fin[0], fin[1])

    volume = rule(
        f"volume > {t.volume_multiplier:g} x 20-bar mean",
        vol > t.volume_multiplier * vol_avg,
        vol,
        t.volume_multiplier * vol_avg,
    )
    long_rules = [
        rule("predicted close above the buy threshold", pred > up, pred, up),
        rule(f"RSI14 below {t.rsi_overbought:g}", rsi < t.rsi_overbought, rsi, t.rsi_overbought),
        volume,
    ]
    short_rules = [
        rule("predicted close below the sell threshold", pred < down, pred, down),
        rule(f"RSI14 above {t.rsi_oversold:g}", rsi > t.rsi_oversold, rsi, t.rsi_oversold),
        volume,
        Rule("shorting allowed", t.allow_short, None, None),
    ]
    side = int(
        entry_signal(
            close,
            pred,
            rsi,
            vol,
            vol_avg,
            ret_std,
            t.buy_threshold,
            t.sell_threshold,
            sigma,
            t.volume_multiplier,
            t.rsi_overbought,
            t.rsi_oversold,
            t.allow_short,
        )
    )
    decision = {1: "long", -1: "short", 0: "none"}[side]
    if decision == "none":
        failed = [r.rule for r in long_rules + short_rules if not r.passed]
        needed = ("rsi14", "volume_sma20", "ret_std20") if sigma else ("rsi14", "volume_sma20")
        warm = [k for k in needed if not math.isfinite(feats[k])]
        reason = (
            f"indicators still warming up ({', '.join(warm)})"
            if warm
            else "no entry: failed " + "; ".join(dict.fromkeys(failed))
        )
    else:
        reason = f"{decision} entry: every {decision} rule passed (the risk manager sizes or rejects it)"
    return Signal(decision, reason, long_rules, short_rules)


def predict_next(
    engine: Engine,
    symbol: str,
    trading: TradingConfig,
    *,
    model_id: int | None = None,
    bars: list[dict[str, Any]] | None = None,
    timeframe: str = "1m",
) -> Prediction:
    """Predict the close after the last bar of ``symbol`` (stored bars, or ``bars`` from the request)."""
    sym = symbol.strip().upper()
    if not sym or len(sym) > 32:
        raise Invalid(f"bad symbol {symbol!r}")
    m = _model_row(engine, sym, model_id)
    seq = _sequence_length(m["path"], sym)
    frame = (
        posted_bars(sym, bars)
        if bars is not None
        else latest_bars(engine, sym, seq + WARMUP_BARS + LOOKBACK_BARS, timeframe=timeframe)
    )
    need = seq + WARMUP_BARS
    if len(frame) < need:
        raise Invalid(
            f"{sym}: {len(frame)} regular-hours bars, a prediction needs at least {need} "
            f"(sequence_length {seq} + {WARMUP_BARS} warm-up)"
        )
    try:
        preds = predict(Path(m["path"]), frame)
    except CheckpointError as e:
        raise Conflict(f"model {m['id']}: {e}") from None
    except ValueError as e:
        raise Invalid(f"{sym}: {e}") from None
    last = preds.iloc[-1]
    feats_arr = feature_arrays(frame["close"].to_numpy(), frame["volume"].to_numpy())[-1]
    feats = {name: float(feats_arr[i]) for i, name in enumerate(ALL_NAMES)}
    close = float(frame["close"].iloc[-1])
    pred = float(last["predicted_close"])
    return Prediction(
        sym,
        int(m["id"]),
        pd.Timestamp(last["timestamp"]),
        close,
        pred,
        float(last["confidence"]),
        explain(close, pred, feats, trading),
    )


def finite(x: float) -> float | None:
    """``None`` for NaN/inf (JSON has no NaN)."""
    return float(x) if x is not None and np.isfinite(x) else None
