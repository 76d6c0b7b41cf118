"""The terminal panel of a running session (rich): equity, cash, positions with unrealised PnL, the last
signals, the risk state and bars/s, refreshed a few times a second from the engine's counters."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from tradingmodel.strategy import layout as L

RISK_STYLE = {"trading": "green", "halted_for_the_day": "yellow", "halted": "bold red"}


def render(engine: Any) -> Group:
    """One frame of the panel for ``engine`` (a :class:`tradingmodel.live.engine.Engine`)."""
    st = engine.stats
    elapsed = max(1e-9, asyncio.get_running_loop().time() - st.started)
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"session [bold]{engine.session.name}[/]",
        f"last bar {st.last_bar}",
        f"risk [{RISK_STYLE.get(st.status, 'white')}]{st.status}[/]",
    )
    head.add_row(
        f"equity [bold]${st.equity:,.2f}[/]",
        f"cash ${st.cash:,.2f}",
        f"{st.bars / elapsed:,.1f} bars/s, {st.slices} slices, {st.fills} fills, {st.refused} refused",
    )
    pos = Table(title="positions", expand=False)
    for c in ("symbol", "qty", "entry", "last", "unrealised $"):
        pos.add_column(c, justify="right")
    s = engine.strategy
    for i, sym in enumerate(s.symbols):
        side, qty = s.position(i)
        if side:
            entry, last = float(s.state.sf[i, L.F_ENTRY_PRICE]), s.last_close(i)
            pos.add_row(sym, f"{side * qty:g}", f"{entry:.2f}", f"{last:.2f}", f"{side * qty * (last - entry):+,.2f}")
    sig = Table(title="last signals", expand=False)
    for c in ("symbol", "time", "predicted", "signal", "decision", "rejection"):
        sig.add_column(c)
    for sym, d in list(st.last_signals.items())[-8:]:
        sig.add_row(
            sym, str(d["time"]), f"{d['predicted_close']:.2f}", d["signal"], d["decision"], d["rejection"] or ""
        )
    return Group(head, pos, sig)


async def show(engine: Any, console: Console | None = None, refresh: float = 0.5) -> None:
    """Redraw the panel until cancelled."""
    with Live(render(engine), console=console or Console(stderr=True), refresh_per_second=4, transient=False) as live:
        while True:
            await asyncio.sleep(refresh)
            live.update(render(engine))
