"""``tradingmodel backtest``: bars + (model | predictions file) -> trades, equity, metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import typer

from tradingmodel.cli.common import (
    ConfigOption,
    DataOption,
    FromOption,
    NoReportOption,
    ReportsOption,
    SymbolsOption,
    TimeframeOption,
    ToOption,
    UserError,
    add_command,
    get_config,
    load_bars,
    out,
    print_note,
    working,
)

REPORT_PREDICTION_COLUMNS = ["symbol", "timestamp", "predicted_close", "confidence", "close", "next_close", "split"]

_Unit = Literal["percent", "sigma"]


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions file (CSV or Parquet by suffix) with ``symbol, timestamp, predicted_close``."""
    from tradingmodel.data.bars import file_format

    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    try:
        if file_format(path) == "csv":
            df = pd.read_csv(path, dtype={"symbol": str, "timestamp": str})
        else:
            df = pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise UserError(f"{path}: cannot read predictions: {e}") from None
    df.index = pd.RangeIndex(1, len(df) + 1)  # errors name data rows from 1, as for bar files
    return df


def select_predictions(preds: pd.DataFrame, bars: pd.DataFrame, symbols: list[str] | None, source: str) -> pd.DataFrame:
    """The predictions of the bars the command kept: those of ``--symbols`` only, and, for intraday bars,
    none outside US regular hours (left out with the same note as the bars). Rows keep their numbers."""
    from tradingmodel.data.sessions import REGULAR_HOURS_TEXT, is_intraday, regular_hours_mask

    if "symbol" not in preds.columns or "timestamp" not in preds.columns:
        return preds  # the backtest names the missing column
    if symbols:
        preds = preds[preds["symbol"].astype(str).str.strip().str.upper().isin(symbols)]
    if is_intraday(bars):
        ts = pd.to_datetime(preds["timestamp"], utc=True, errors="coerce", format="ISO8601")
        outside = ts.notna().to_numpy() & ~regular_hours_mask(ts.fillna(pd.Timestamp(0, tz="UTC")))
        if outside.any():
            print_note(
                f"{source}: left out {int(outside.sum()):,} predictions outside regular hours ({REGULAR_HOURS_TEXT})"
            )
            preds = preds[~outside]
    return preds


def _summary(m: dict[str, Any]) -> list[tuple[str, str]]:
    def money(x: float) -> str:
        return f"${x:,.2f}"

    def num(x: float | None, fmt: str = "{:.2f}") -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)

    def day(key: str) -> str:
        return f"{money(m[key])} ({m[key + '_pct']:+.3f}%)"

    pf = m["profit_factor"]
    daily = []
    if "sessions" in m:
        daily = [
            ("sessions", f"{m['sessions']}"),
            ("daily P&L mean / median", f"{day('mean_daily_profit')} / {day('median_daily_profit')}"),
            (
                "best / worst day",
                f"{day('best_day_profit')} {m['best_day_date']} / {day('worst_day_profit')} {m['worst_day_date']}",
            ),
        ]
    return [
        ("deposit", money(m["deposit"])),
        ("final equity", money(m["final_equity"])),
        ("total profit", f"{money(m['total_profit'])} ({m['total_profit_pct']:+.2f}%)"),
        ("buy and hold", f"{money(m.get('buy_and_hold_profit', 0.0))} ({m.get('buy_and_hold_return_pct', 0.0):+.2f}%)"),
        ("trades", f"{m['total_trades']} ({m['long_trades']} long, {m['short_trades']} short)"),
        ("win rate", num(m["win_rate"], "{:.1f}%")),
        ("average per trade", f"{money(m['average_profit_per_trade'])} ({m['average_profit_per_trade_pct']:+.3f}%)"),
        ("profit factor", "no losing trade" if pf is None and m["total_trades"] else num(pf)),
        ("max drawdown", f"{money(m['maximum_drawdown'])} ({m['maximum_drawdown_pct']:.2f}%)"),
        (
            "sharpe / sortino / calmar",
            f"{num(m['sharpe_ratio'])} / {num(m['sortino_ratio'])} / {num(m['calmar_ratio'])}",
        ),
        *daily,
        ("exposure", f"{m['exposure_pct']:.1f}% of bars"),
        ("costs paid", f"{money(m['costs_paid'])} ({m['costs_paid_pct']:.2f}% of deposit)"),
        ("exit reasons", ", ".join(f"{k} {v}" for k, v in m["exit_reasons"].items()) or "-"),
        ("rejections", ", ".join(f"{k} {v}" for k, v in m["rejections"].items()) or "-"),
    ]


def _backtest(
    data: DataOption = None,
    symbols: SymbolsOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = "1m",
    model: Annotated[Path | None, typer.Option("--model", help="Model folder: predictions are made here.")] = None,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="File with symbol, timestamp, predicted_close (row = bar t, for t+1)."),
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    trades_out: Annotated[Path | None, typer.Option("--trades-out", help="Write trades (.csv/.parquet).")] = None,
    buy_threshold: Annotated[float | None, typer.Option(help="Long entry threshold (percent or sigmas).")] = None,
    sell_threshold: Annotated[float | None, typer.Option(help="Short entry threshold (percent or sigmas).")] = None,
    threshold_unit: Annotated[_Unit | None, typer.Option(help="'percent' of price or 'sigma'.")] = None,
    stop_loss_threshold: Annotated[float | None, typer.Option("--stop-loss", help="Stop, fraction.")] = None,
    take_profit_threshold: Annotated[float | None, typer.Option("--take-profit", help="Target, fraction.")] = None,
    max_holding_bars: Annotated[int | None, typer.Option(help="Exit after this many bars.")] = None,
    flatten_at_close: Annotated[
        bool | None,
        typer.Option("--flatten-at-close/--hold-overnight", help="Close positions at each session's last bar."),
    ] = None,
    allow_short: Annotated[bool | None, typer.Option("--short/--no-short", help="Take short entries.")] = None,
    commission_per_share: Annotated[float | None, typer.Option(help="Commission, $ per share.")] = None,
    slippage_bps: Annotated[float | None, typer.Option(help="Slippage per fill, basis points.")] = None,
    deposit: Annotated[float | None, typer.Option(help="Starting cash, $.")] = None,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="With --model: auto | test | whole (auto: the model's "
            "unseen test part when the data is its training data).",
        ),
    ] = "auto",
    reports: ReportsOption = Path("reports"),
    no_report: NoReportOption = False,
) -> None:
    """Backtest predictions on bars: fills at the next open, stops/targets intrabar, costs, risk limits."""
    from tradingmodel.backtest import run_backtest
    from tradingmodel.data.bars import write_frame

    if (model is None) == (predictions is None):
        raise UserError("give exactly one of --model DIR or --predictions FILE")
    cfg = get_config(
        config,
        trading={
            "buy_threshold": buy_threshold,
            "sell_threshold": sell_threshold,
            "threshold_unit": threshold_unit,
            "stop_loss_threshold": stop_loss_threshold,
            "take_profit_threshold": take_profit_threshold,
            "max_holding_bars": max_holding_bars,
            "flatten_at_close": flatten_at_close,
            "allow_short": allow_short,
            "commission_per_share": commission_per_share,
            "slippage_bps": slippage_bps,
            "deposit": deposit,
        },
    )
    from tradingmodel.cli.common import split_symbols
    from tradingmodel.pipeline import attach_sample_check, sample_check_from_origin

    bars, bars_source = load_bars(data, symbols, start, end, timeframe)
    model_metrics, report_preds = None, None
    try:
        if predictions is not None:
            from tradingmodel.model.predict import read_origin

            source = str(predictions)
            preds = select_predictions(read_predictions(predictions), bars, split_symbols(symbols), source)
            origin = read_origin(predictions)
            with working("backtesting"):
                result = run_backtest(bars, preds, cfg.trading, source=source)
            attach_sample_check(result.metrics, sample_check_from_origin(preds, origin, source))
            report_preds = preds[
                [c for c in ("symbol", "timestamp", "predicted_close", "confidence") if c in preds.columns]
            ]
        else:
            from tradingmodel.pipeline import backtest_model

            with working("predicting and backtesting"):
                mb = backtest_model(model, bars, cfg.trading, split=split, baseline=True)
            model_metrics, frame, result, bars = mb.model_metrics, mb.frame, mb.result, mb.bars
            source = f"model {model} ({model_metrics['split']} part)"
            report_preds = frame.loc[frame["scored"], REPORT_PREDICTION_COLUMNS]
    except ValueError as e:
        raise UserError(str(e)) from None
    if trades_out is not None:
        from tradingmodel.data.bars import file_format
        from tradingmodel.report.runs import iso_times

        csv = file_format(trades_out) == "csv"
        write_frame(iso_times(result.trades, ("entry_time", "exit_time")) if csv else result.trades, trades_out)
    run_dir = None
    if not no_report:
        from tradingmodel.report import provenance, save_run

        run_dir = save_run(
            "backtest",
            root=reports,
            config=cfg,
            provenance=provenance(bars, source=bars_source, predictions=source),
            model_metrics=model_metrics,
            trading_metrics=result.metrics,
            trades=result.trades,
            equity=result.equity,
            bars=bars,
            predictions=report_preds,
        )
    if as_json:
        out.print_json(json.dumps(result.metrics))
        warn_in_sample(result.metrics)
        return
    out.print(
        f"backtest of {len(bars):,} bars ({', '.join(result.metrics['symbols'])}), predictions from "
        f"{source}, thresholds in {cfg.trading.threshold_unit}"
    )
    print_summary(result.metrics)
    print_notes(result.metrics)
    if trades_out is not None:
        out.print(f"wrote {len(result.trades)} trades to {trades_out}")
    if run_dir is not None:
        out.print(f"report: {run_dir / 'report.html'}", highlight=False, soft_wrap=True)


def print_summary(metrics: dict[str, Any]) -> None:
    """The trading figures, in $ and %, one per line."""
    rows = _summary(metrics)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out.print(f"  {key:<{width}}  {value}", highlight=False)


def print_notes(metrics: dict[str, Any]) -> None:
    """The run's caveats: the in-sample warning (if any) first, then small sample and no-trade notes."""
    warning = (metrics.get("in_sample") or {}).get("warning")
    for note in metrics.get("notes", []):
        tag = "[bold red]warning:[/]" if note == warning else "[yellow]note:[/]"
        out.print(f"{tag} {note}", highlight=False, soft_wrap=True)
    warn_in_sample(metrics)


def warn_in_sample(metrics: dict[str, Any]) -> None:
    """The in-sample warning on stderr, so that it is seen when stdout is JSON or goes to a file."""
    warning = (metrics.get("in_sample") or {}).get("warning")
    if warning:
        print_note(warning, label="warning")


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to the main app."""
    add_command(app, "backtest", _backtest)
