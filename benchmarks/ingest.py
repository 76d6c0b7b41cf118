"""Bar ingestion throughput: the bulk path beside a plain ORM ``add_all`` insert, in the same run.

PostgreSQL (a scratch database created on the server and dropped afterwards) and SQLite (a temporary
file). The ORM reference inserts a smaller subset (``--orm-rows``) and is reported as a per-row rate;
reading is compared with ``pandas.read_sql`` of one symbol (per-row rate). Each output line says so. Usage::

    python benchmarks/ingest.py [--rows 1000000] [--orm-rows 50000] [--pg-url URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from tradingmodel.data import BARS_PER_SESSION, simulate
from tradingmodel.store import dispose_engines, get_engine, ingest_bars, load_bars
from tradingmodel.store.schema import MarketData

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def make_bars(rows: int) -> pd.DataFrame:
    symbols = 10
    days = max(1, -(-rows // (symbols * BARS_PER_SESSION)))
    return simulate([f"S{i:02d}" for i in range(symbols)], days, seed=11)


def orm_add_all(url: str, bars: pd.DataFrame) -> float:
    """Seconds for a plain ORM insert: one MarketData object per bar, ``add_all``, one commit."""
    engine = get_engine(url)
    cols = [
        bars[c].tolist()
        for c in ("symbol", "timestamp", "open", "high", "low", "close", "volume", "vwap", "transactions")
    ]
    start = time.perf_counter()
    with Session(engine) as session:
        session.add_all(
            [
                MarketData(
                    symbol="ORM" + s[:4],
                    timeframe="1m",
                    timestamp=t.to_pydatetime(),
                    open=o,
                    high=h,
                    low=lo,
                    close=c,
                    volume=int(v),
                    vwap=vw,
                    transactions=int(n),
                )
                for s, t, o, h, lo, c, v, vw, n in zip(*cols, strict=True)
            ]
        )
        session.commit()
    return time.perf_counter() - start


def run(label: str, url: str, bars: pd.DataFrame, orm_rows: int) -> None:
    engine = get_engine(url)
    orm_s = orm_add_all(url, bars.iloc[:orm_rows])
    orm_rate = orm_rows / orm_s
    ref = f"ORM add_all ({orm_rows:,} bars, per-row rate {orm_rate:,.0f} bars/s)"
    first = ingest_bars(engine, bars)
    assert first.inserted == len(bars), first
    again = ingest_bars(engine, bars)
    assert again.unchanged == len(bars), again
    fixed = bars.copy()
    fixed["close"] = fixed["low"]
    fixed["open"] = fixed["high"]
    upd = ingest_bars(engine, fixed)
    assert upd.updated > 0.9 * len(bars), upd
    start = time.perf_counter()
    n = len(load_bars(engine, None))
    read_s = time.perf_counter() - start
    assert n == len(bars) + orm_rows
    # reading reference: pandas.read_sql of the same columns for one symbol (per-row rate)
    one = str(bars["symbol"].iloc[0])
    start = time.perf_counter()
    ref_n = len(
        pd.read_sql_query(
            text(
                "SELECT symbol, timestamp, open, high, low, close, volume, vwap, transactions FROM market_data "
                "WHERE symbol = :s AND timeframe = '1m' ORDER BY timestamp"
            ),
            engine,
            params={"s": one},
        )
    )
    ref_rate = ref_n / (time.perf_counter() - start)
    print(
        f"{label} bulk ingest, {len(bars):,} new bars: {first.rows_per_second:,.0f} bars/s = "
        f"{first.rows_per_second / orm_rate:.1f}x {ref}"
    )
    print(
        f"{label} re-ingest, {len(bars):,} unchanged bars: {again.rows_per_second:,.0f} bars/s = "
        f"{again.rows_per_second / orm_rate:.1f}x {ref}"
    )
    print(
        f"{label} ingest of corrections, {upd.updated:,} bars replaced: {upd.rows_per_second:,.0f} bars/s = "
        f"{upd.rows_per_second / orm_rate:.1f}x {ref}"
    )
    print(
        f"{label} load_bars, {n:,} bars: {n / read_s:,.0f} bars/s = {(n / read_s) / ref_rate:.1f}x "
        f"pandas.read_sql ({ref_n:,} bars of one symbol, per-row rate {ref_rate:,.0f} bars/s)"
    )
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--orm-rows", type=int, default=50_000)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("TEST_DATABASE_URL") or os.environ.get("TEST_PG_URL") or DEFAULT_PG,
        help="PostgreSQL server (a scratch database is created on it)",
    )
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    bars = make_bars(args.rows)
    print(f"# {len(bars):,} simulated bars ({bars['symbol'].nunique()} symbols); cores: {os.cpu_count()}")
    if not args.no_pg:
        server = make_url(args.pg_url).set(drivername="postgresql+psycopg")
        admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        name = f"tradingmodel_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("postgresql", server.set(database=name).render_as_string(hide_password=False), bars, args.orm_rows)
        finally:
            dispose_engines()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", bars, args.orm_rows)
        dispose_engines()


if __name__ == "__main__":
    main()
