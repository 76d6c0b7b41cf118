"""``tradingmodel backtest``: bars + (model | predictions file) -> trades, equity, metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from tradingmodel.cli.common import (
    add_command,
    db_label,
    get_config,
    load_inputs,
    open_db,
    out,
    print_note,
    split_symbols,
    working,
)
from tradingmodel.cli.errors import UserError
from tradingmodel.cli.options import (
    BarOptions,
    BuyThresholdOption,
    ConfigOption,
    DbOption,
    NoDbOption,
    NoReportOption,
    ReportsOption,
    SellThresholdOption,
    bar_options,
)
from tradingmodel.data.sessions import REGULAR_HOURS_TEXT

_Unit = Literal["percent", "sigma"]


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


@bar_options
def _backtest(
    inputs: BarOptions,
    model: Annotated[Path | None, typer.Option("--model", help="Model folder: predictions are made here.")] = None,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="File with symbol, timestamp, predicted_close (row = bar t, for t+1)."),
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    trades_out: Annotated[Path | None, typer.Option("--trades-out", help="Write trades (.csv/.parquet).")] = None,
    buy_threshold: BuyThresholdOption = None,
    sell_threshold: SellThresholdOption = None,
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
    database_url: DbOption = None,
    no_db: NoDbOption = False,
) -> None:
    """Backtest predictions on bars: fills at the next open, stops/targets intrabar, costs, risk limits.
    The run is recorded in the database (``runs``) beside its run folder."""
    from tradingmodel.data.bars import write_frame
    from tradingmodel.services.backtesting import BacktestRequest, backtest

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
    db = open_db(database_url, no_db)
    bars, bars_source = load_inputs(inputs)
    req = BacktestRequest(
        bars,
        bars_source,
        cfg,
        model=model,
        predictions=predictions,
        symbols=split_symbols(inputs.symbols),
        split=split,
        reports=None if no_report else reports,
        engine=db,
    )
    with working("backtesting" if predictions is not None else "predicting and backtesting"):
        bt = backtest(req)
    if bt.outside_hours:
        print_note(
            f"{bt.source}: left out {bt.outside_hours:,} predictions outside regular hours ({REGULAR_HOURS_TEXT})"
        )
    result = bt.result
    if trades_out is not None:
        from tradingmodel.data.bars import file_format
        from tradingmodel.report.runs import iso_times

        csv = file_format(trades_out) == "csv"
        write_frame(iso_times(result.trades, ("entry_time", "exit_time")) if csv else result.trades, trades_out)
    if as_json:
        out.print_json(json.dumps(result.metrics))
        warn_in_sample(result.metrics)
        return
    out.print(
        f"backtest of {len(bt.bars):,} bars ({', '.join(result.metrics['symbols'])}), predictions from "
        f"{bt.source}, thresholds in {cfg.trading.threshold_unit}"
    )
    print_summary(result.metrics)
    print_notes(result.metrics)
    if trades_out is not None:
        out.print(f"wrote {len(result.trades)} trades to {trades_out}")
    if bt.recorded.run_dir is not None:
        out.print(f"report: {bt.recorded.run_dir / 'report.html'}", highlight=False, soft_wrap=True)
    if bt.recorded.run_id is not None:
        out.print(f"database: run {bt.recorded.run_id} ({db_label(db)})", highlight=False, soft_wrap=True)


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
