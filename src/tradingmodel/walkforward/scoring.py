"""From the tasks' test predictions to figures: per-fold and pooled model metrics beside persistence and
AR(20), each fold's test period traded by the model and by the AR baseline through the same strategy,
stitched out-of-sample equity, and the significance tests in plain words.

Stitching: every fold's backtest starts from the deposit; the stitched curve carries the account over,
so fold k's curve is scaled by the growth of folds 0..k-1 (the same for the AR baseline and for buy and
hold). Trades keep their dollar figures on their own fold's account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradingmodel.config import TradingConfig
from tradingmodel.data.columns import PREDICTION_COLUMNS
from tradingmodel.metrics import significance as sig
from tradingmodel.metrics.trading import trading_metrics
from tradingmodel.model.predict import score_frame as model_scores  # the evaluate command's figures
from tradingmodel.walkforward.folds import Fold


@dataclass
class FoldTrading:
    """One fold's test period through the strategy: the model and the AR(20) baseline."""

    fold: Fold
    model: object  # BacktestResult
    ar: object  # BacktestResult
    bars: pd.DataFrame


@dataclass
class Stitched:
    """Out-of-sample equity across folds and its trading metrics."""

    equity: pd.DataFrame  # timestamp, equity, cash, gross_exposure, buy_and_hold, ar_equity, fold
    trades: pd.DataFrame
    model: dict
    ar: dict
    bars_per_year: float
    returns: dict[str, np.ndarray] = field(default_factory=dict)


def trade_fold(bars: pd.DataFrame, frame: pd.DataFrame, fold: Fold, trading: TradingConfig) -> FoldTrading:
    """Backtest a fold's test period: the bars inside it (features recomputed there, so the strategy's
    warm-up takes no entries and nothing from training reaches it) with the model's and AR's predictions."""
    from tradingmodel.backtest import run_backtest

    syms = sorted(frame["symbol"].unique())
    traded = bars[bars["symbol"].isin(syms) & fold.test_mask(bars["timestamp"]).to_numpy()].reset_index(drop=True)
    model = run_backtest(traded, frame[list(PREDICTION_COLUMNS)], trading, source=f"fold {fold.index} model")
    ar = frame[["symbol", "timestamp", "ar_predicted_close"]].rename(columns={"ar_predicted_close": "predicted_close"})
    base = run_backtest(traded, ar, trading, source=f"fold {fold.index} AR(20) baseline")
    return FoldTrading(fold, model, base, traded)


def _chain(curves: list[np.ndarray], deposit: float) -> np.ndarray:
    level, out = deposit, []
    for c in curves:
        out.append(c * (level / deposit))
        level = float(out[-1][-1]) if len(c) else level
    return np.concatenate(out) if out else np.zeros(0)


def stitch(folds: list[FoldTrading], deposit: float) -> Stitched:
    """Chain the folds' equity curves (model, AR, buy and hold) into one out-of-sample account."""
    eq = [f.model.equity for f in folds]
    frame = pd.DataFrame(
        {
            "timestamp": pd.concat([e["timestamp"] for e in eq], ignore_index=True),
            "equity": _chain([e["equity"].to_numpy() for e in eq], deposit),
            "cash": _chain([e["cash"].to_numpy() for e in eq], deposit),
            "gross_exposure": np.concatenate([e["gross_exposure"].to_numpy() for e in eq]),
            "buy_and_hold": _chain([e["buy_and_hold"].to_numpy() for e in eq], deposit),
            "ar_equity": _chain([f.ar.equity["equity"].to_numpy() for f in folds], deposit),
            "fold": np.concatenate([np.full(len(e), f.fold.index) for e, f in zip(eq, folds, strict=True)]),
        }
    )
    bpy = float(folds[0].model.bars_per_year)
    trades = pd.concat([f.model.trades.assign(fold=f.fold.index) for f in folds], ignore_index=True)
    fills = pd.concat([f.model.fills for f in folds], ignore_index=True)
    model = trading_metrics(frame, trades, deposit, bpy, fills=fills)
    ar_frame = frame[["timestamp", "ar_equity"]].rename(columns={"ar_equity": "equity"})
    ar_trades = pd.concat([f.ar.trades for f in folds], ignore_index=True)
    ar = trading_metrics(ar_frame, ar_trades, deposit, bpy, fills=pd.concat([f.ar.fills for f in folds]))
    rets = {
        k: _returns(frame[c].to_numpy(), deposit)
        for k, c in (("model", "equity"), ("ar", "ar_equity"), ("buy_and_hold", "buy_and_hold"))
    }
    return Stitched(frame, trades, model, ar, bpy, rets)


def _returns(values: np.ndarray, start: float) -> np.ndarray:
    prev = np.concatenate(([start], values[:-1]))
    return values / prev - 1.0


def _errors(f: pd.DataFrame, col: str | None) -> np.ndarray:
    actual = f["next_close"].to_numpy() / f["close"].to_numpy() - 1.0
    pred = 0.0 if col is None else f[col].to_numpy() / f["close"].to_numpy() - 1.0
    return pred - actual


def direction_counts(f: pd.DataFrame) -> tuple[int, int]:
    """(right, total) predicted directions over bars whose next close moved."""
    actual = np.sign(f["next_close"].to_numpy() - f["close"].to_numpy())
    pred = np.sign(f["predicted_close"].to_numpy() - f["close"].to_numpy())
    moved = actual != 0
    return int((pred[moved] == actual[moved]).sum()), int(moved.sum())


def significance(frame: pd.DataFrame, st: Stitched | None, trials: int, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """The four tests on the pooled test predictions and the stitched equity; ``edge`` lists the tests
    that say, at the 5 % level, that the model does better than its baseline or than doing nothing."""
    e = _errors(frame, "predicted_close")
    out = {
        "dm_vs_persistence": sig.diebold_mariano(e, _errors(frame, None), name="persistence (no move)"),
        "dm_vs_ar": sig.diebold_mariano(e, _errors(frame, "ar_predicted_close"), name="AR(20)"),
        "direction": sig.binomial_direction(*direction_counts(frame)),
    }
    if st is not None:
        r = st.returns["model"]
        out["sharpe_bootstrap"] = sig.bootstrap_sharpe(r, st.bars_per_year, n_boot=n_boot, seed=seed)
        out["deflated_sharpe"] = sig.deflated_sharpe(r, trials)
    # an edge = better than doing nothing: than the no-move forecast, a coin, or a flat account (beating
    # AR(20) alone is no edge: an over-fitted AR can lose to a forecast of zero)
    edge = ["dm_vs_persistence"] if (out["dm_vs_persistence"]["p_value_model_better"] or 1.0) < sig.LEVEL else []
    if out["direction"]["significant"]:
        edge.append("direction")
    if st is not None:
        if out["sharpe_bootstrap"]["interval"][0] > 0:
            edge.append("sharpe_bootstrap")
        if out["deflated_sharpe"]["significant"]:
            edge.append("deflated_sharpe")
    out["edge"] = edge
    return out


def fold_tests(frame: pd.DataFrame) -> dict:
    """One fold's forecast tests against doing nothing: Diebold-Mariano against the no-move forecast and
    the binomial direction test; ``beats_doing_nothing`` when either favours the model at 5 % (per fold,
    not corrected for the number of folds: the overall tests are the ones to trust)."""
    dm = sig.diebold_mariano(_errors(frame, "predicted_close"), _errors(frame, None), name="persistence (no move)")
    direction = sig.binomial_direction(*direction_counts(frame))
    beats = (dm["p_value_model_better"] or 1.0) < sig.LEVEL or bool(direction["significant"])
    return {"dm_vs_persistence": dm, "direction": direction, "beats_doing_nothing": beats}


def fold_words(row: dict) -> str:
    """One fold's verdict in a sentence: does the model beat doing nothing, and what did it trade."""
    t = row["tests"]
    text = (
        f"Fold {row['fold']} ({row['test_start'][:10]} to {row['test_end'][:10]}"
        + (", partial" if row.get("partial") else "")
        + "): the model "
        + ("beats doing nothing" if t["beats_doing_nothing"] else "does not beat doing nothing")
        + f" at the 5% level: {t['dm_vs_persistence']['verdict']}; {t['direction']['verdict']}"
    )
    tr = row.get("trading")
    if tr:
        text += (
            f"; its strategy made {tr['total_return_pct']:+.2f}% (${tr['total_profit']:+,.2f}) where staying "
            "flat makes 0"
        )
    return text + "."


def fold_summary(fold: Fold, frame: pd.DataFrame, ft: FoldTrading | None) -> dict:
    """One fold's model figures (beside persistence and AR), its tests against doing nothing, trading
    figures (model and AR, % and $) and its verdict in words."""
    out = {**fold.to_json(), "symbols": sorted(frame["symbol"].unique()), "model": model_scores(frame)}
    out["tests"] = fold_tests(frame)
    if ft is not None:
        out["trading"] = ft.model.metrics
        out["ar_trading"] = ft.ar.metrics
    out["words"] = fold_words(out)
    return out


EDGE_NAMES = {
    "dm_vs_persistence": "smaller squared errors than the no-move forecast (Diebold-Mariano)",
    "direction": "more right directions than a coin (binomial)",
    "sharpe_bootstrap": "a stitched Sharpe ratio whose bootstrap interval is above 0",
    "deflated_sharpe": "a deflated Sharpe ratio significant after the configurations tried",
}


def plain_words(summary: dict) -> list[str]:
    """Sentences that say, overall, whether the model beat its baselines and doing nothing."""
    s = summary["significance"]
    lines = [
        f"Against persistence: {s['dm_vs_persistence']['verdict']}.",
        f"Against AR(20): {s['dm_vs_ar']['verdict']}.",
        f"Direction: {s['direction']['verdict']}.",
    ]
    st = summary.get("stitched")
    if st:
        m, a = st["model"], st["ar"]
        lines.append(
            f"Stitched out-of-sample trading: {m['total_return_pct']:+.2f}% "
            f"(${m['total_profit']:+,.2f}) over {len(summary['folds'])} folds; the AR(20) baseline "
            f"through the same strategy {a['total_return_pct']:+.2f}% (${a['total_profit']:+,.2f}); "
            f"buy and hold {m.get('buy_and_hold_return_pct', float('nan')):+.2f}%."
        )
        lines.append(f"Sharpe: {s['sharpe_bootstrap']['verdict']}; {s['deflated_sharpe']['verdict']}.")
    if s["edge"]:
        lines.append(
            "Overall: the model beats doing nothing at the 5% level: "
            + "; ".join(EDGE_NAMES.get(k, k) for k in s["edge"])
            + "."
        )
    else:
        lines.append(
            "Overall: the model does not beat doing nothing beyond chance: no test finds an edge at the 5% "
            "level (errors against the no-move forecast, direction against a coin, the stitched Sharpe ratio)."
        )
    return lines
