"""Live engine speed: bar → orders latency, its parts and physical limit, replay throughput, commit cost.

Run: ``.venv/bin/python benchmarks/live.py [--quick] [--pg URL]``. One line per figure:
``<figure>: <value> <unit> = <ratio>x <reference>``, the reference measured in the same run. The network is
the default ``[model]`` one (LSTM 2 x 128, 60-bar window, 5 inputs), trained for one epoch (speed does not
depend on the weights); the 100-symbol checkpoint is that network with the first symbol's scaling copied to
100 symbols. torch runs on one thread, as in a session.

* compute path: a slice's bars → streaming features + one batched model call + the strategy step → the
  orders exist, p50/p99 over many minutes, for 1 and 100 symbols closing in the same minute, beside the same
  path with ``model.predict`` per symbol on its last ``sequence_length + 40`` bars; with its parts;
* engine: ``paper --source replay --speed 0`` on SQLite (and PostgreSQL): each slice from its bars' release
  by the barrier to its orders handed to the executor (executor fills, features, model, strategy, the
  decision commit, the submits), p50/p99; the commit alone beside an empty write transaction; throughput in
  bars/s beside ``run_backtest`` on the same bars and predictions;
* physical limit: the network's FLOPs per call ÷ this machine's matmul rate (measured here, one thread, on
  a large GEMM and on the LSTM's own step shapes) against the issue's targets (p99 < 2 ms for 1 symbol,
  < 10 ms for 100); and for one window, which is a chain of matrix-vector products, the weight bytes it
  streams ÷ the measured L2 read rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tradingmodel.backtest import run_backtest
from tradingmodel.config import AppConfig, ModelConfig, TradingConfig
from tradingmodel.data import simulate
from tradingmodel.live.predictor import Predictor
from tradingmodel.live.session import run_session
from tradingmodel.live.sources import ReplaySource
from tradingmodel.live.strategy import LiveStrategy
from tradingmodel.model import predict, train
from tradingmodel.model.inference import LSTMKernel
from tradingmodel.model.network import lstm_flops_per_sample
from tradingmodel.model.predict import checkpoints_for
from tradingmodel.strategy import layout as L

CFG = ModelConfig(num_epochs=1, patience=1, seed=1)  # the default network: 2 x 128, window 60
TARGET_MS = {1: 2.0, 100: 10.0}
WARM_SLICES = 2  # first slices of a path (first calls: caches, a new connection), not counted; printed apart


def _ms(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a) * 1e3, q))


def _rate(f, flop: float, seconds: float = 1.0) -> tuple[float, float]:
    """(GFLOP/s, median seconds per call) of ``f`` doing ``flop`` floating-point operations."""
    f()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return flop / med / 1e9, med


def hundred_symbol_model(src: Path, dst: Path, symbols: list[str]) -> Path:
    """``src``'s pooled network for 100 symbols: every symbol gets the first one's scaling statistics."""
    shutil.copytree(src, dst)
    man = json.loads((dst / "manifest.json").read_text())
    man["symbols"] = {s: "pooled" for s in symbols}
    (dst / "manifest.json").write_text(json.dumps(man))
    meta = json.loads((dst / "pooled" / "meta.json").read_text())
    first = next(iter(meta["symbols"].values()))
    meta["symbols"] = {s: first for s in symbols}
    (dst / "pooled" / "meta.json").write_text(json.dumps(meta))
    return dst


def compute_path(model_dir: Path, bars: pd.DataFrame, symbols: list[str], minutes: int, ref_minutes: int) -> dict:
    """Seconds per slice of the engine's compute path (and its parts), and of the model.predict path."""
    pred = Predictor(model_dir, symbols)
    strat = LiveStrategy.new(symbols, TradingConfig(buy_threshold=0.0, sell_threshold=0.0))
    times = sorted(bars["timestamp"].unique())
    warm, live = times[: -minutes - WARM_SLICES], times[-minutes - WARM_SLICES :]
    hist = bars[bars["timestamp"].isin(warm)]
    for s, g in hist.groupby("symbol"):
        pred.warm_up(str(s), g["close"].to_numpy(), g["volume"].to_numpy())
    rows = {
        t: list(zip(g["symbol"], g["open"], g["high"], g["low"], g["close"], g["volume"], strict=True))
        for t, g in bars[bars["timestamp"].isin(live)].groupby("timestamp")
    }
    out: dict[str, list[float]] = {"total": [], "features": [], "model": [], "strategy": [], "reference": []}
    n = len(symbols)
    for k, t in enumerate(live):
        r = rows[t]
        t0 = time.perf_counter()
        for s, _o, _h, _lo, c, v in r:
            pred.update(s, c, v)
        t1 = time.perf_counter()
        p = pred.predict([x[0] for x in r])
        t2 = time.perf_counter()
        mkt = np.full((n, L.NK), np.nan)
        for i, (s, o, h, lo, c, v) in enumerate(r):
            mkt[i, :5] = o, h, lo, c, v
            mkt[i, L.K_VOLAVG], mkt[i, L.K_RSI], mkt[i, L.K_RETSTD] = pred.strategy_features(s)
            mkt[i, L.K_PRED] = p[s].predicted_close if s in p else np.nan
        strat.decide(mkt, 0)
        t3 = time.perf_counter()
        if k < WARM_SLICES:
            continue
        assert len(p) == n, "every symbol must be predicted (warm-up too short)"
        out["total"].append(t3 - t0)
        out["features"].append(t1 - t0)
        out["model"].append(t2 - t1)
        out["strategy"].append(t3 - t2)
        if len(out["reference"]) < ref_minutes:
            t0 = time.perf_counter()
            window = bars[(bars["timestamp"] <= t)].groupby("symbol").tail(CFG.sequence_length + 40)
            for s in symbols:
                predict(model_dir, window[window["symbol"] == s])
            out["reference"].append(time.perf_counter() - t0)
    return out


def engine_replay(model_dir: Path, bars: pd.DataFrame, url: str, tmp: Path, warm: int, name: str) -> dict:
    """A ``--speed 0`` replay session: seconds per slice (release → orders handed to the executor), per
    decision commit, and for the whole session."""
    cfg = AppConfig(trading=TradingConfig(buy_threshold=0.0, sell_threshold=0.0))
    slice_s: list[float] = []
    handed_s: list[float] = []  # release -> the slice's last order handed to the executor (or its decision commit)
    parts: dict[str, list[float]] = {"commit": [], "executor": [], "send": []}
    marks: dict[str, float] = {}

    def timed(name: str, f):
        def run(*a, **kw):
            t0 = time.perf_counter()
            r = f(*a, **kw)
            parts[name].append(time.perf_counter() - t0)
            return r

        return run

    def timed_async(name: str, f):
        async def run(*a, **kw):
            t0 = time.perf_counter()
            r = await f(*a, **kw)
            parts[name].append(time.perf_counter() - t0)
            return r

        return run

    def instrument(engine) -> None:  # timing wrappers only: the engine runs unchanged inside them
        process = engine._process

        async def timed_process(sl):
            marks.clear()
            t0 = time.perf_counter()
            await process(sl)
            slice_s.append(time.perf_counter() - t0)
            handed_s.append(marks.get("submitted", marks["committed"]) - t0)

        def mark(name: str, f, is_async: bool):
            async def run_async(*a, **kw):
                r = await f(*a, **kw)
                marks[name] = time.perf_counter()
                return r

            def run(*a, **kw):
                r = f(*a, **kw)
                marks.setdefault(name, time.perf_counter())  # the decision commit is the slice's first
                return r

            return run_async if is_async else run

        engine._process = timed_process
        engine.store.commit_slice = mark("committed", timed("commit", engine.store.commit_slice), False)
        engine.executor.submit = mark("submitted", engine.executor.submit, True)
        engine.executor.on_slice = timed("executor", engine.executor.on_slice)
        engine.book.send = timed_async("send", engine.book.send)

    t0 = time.perf_counter()
    asyncio.run(
        run_session(
            name=name,
            symbols=sorted(bars["symbol"].unique()),
            model_dir=model_dir,
            source=ReplaySource(bars, warmup_slices=warm),
            config=cfg,
            database_url=url,
            broker_dir=tmp / f"broker-{name}",
            handle_signals=False,
            on_start=instrument,
        )
    )
    wall = time.perf_counter() - t0
    out = {k: v[WARM_SLICES:] for k, v in parts.items()}
    return {
        "slice": slice_s[WARM_SLICES:],
        "handed": handed_s[WARM_SLICES:],
        "first": handed_s[:WARM_SLICES],
        **out,
        "wall": wall,
        "cfg": cfg,
    }


def empty_transaction(url: str, n: int = 50) -> tuple[float, float]:
    """Median seconds of an empty write transaction on ``url``, and of one that inserts a row (what a
    durable commit costs at least: the database's log write, an fsync on PostgreSQL) into a scratch table."""
    from sqlalchemy import text

    from tradingmodel.store import get_engine
    from tradingmodel.store.ingest import write_transaction

    engine = get_engine(url)
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_commit_floor (v INTEGER)"))
    out = []
    for sql in (None, "INSERT INTO bench_commit_floor (v) VALUES (1)"):
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            with write_transaction(engine) as conn:
                if sql:
                    conn.execute(text(sql))
            t.append(time.perf_counter() - t0)
        out.append(float(np.median(t)))
    with write_transaction(engine) as conn:
        conn.execute(text("DROP TABLE bench_commit_floor"))
    return out[0], out[1]


def window_weight_bytes(inputs: int, hidden: int, layers: int, steps: int, tile_rows: int = 4) -> int:
    """Weight bytes the kernel reads for one window: every step reads each layer's recurrent matrix, and the
    input projection of a layer (all steps at once) reads its matrix once per tile of ``tile_rows`` steps."""
    g = 4 * hidden
    passes = -(-steps // tile_rows)
    return 4 * g * (steps * layers * hidden + passes * (inputs + (layers - 1) * hidden))


def l2_read_rate(total_bytes: int = 800_000) -> float:
    """GB/s of a float32 dot product over two arrays of ``total_bytes`` together (resident in L2 after the first
    pass on these machines), one thread: the rate at which one core streams weights it keeps in L2."""
    n = total_bytes // 8
    a, b = np.random.rand(n).astype(np.float32), np.random.rand(n).astype(np.float32)
    return _rate(lambda: a.dot(b), total_bytes)[0]  # "GFLOP/s" of bytes: GB/s


def fma_peak(threads: int, seconds: float = 0.5) -> tuple[float, float]:
    """GFLOP/s of float32 fused multiply-adds on 1 thread and on ``threads`` at once (``_fma_peak.c``, built here
    with the machine's C compiler): the rate no kernel can beat. (0, 0) without a compiler or AVX2 + FMA."""
    import ctypes
    import subprocess
    import sysconfig
    import threading

    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    src = Path(__file__).with_name("_fma_peak.c")
    with tempfile.TemporaryDirectory() as tmp:
        lib_path = Path(tmp) / "fma_peak.so"
        try:
            cmd = [cc, "-O2", "-shared", "-fPIC", "-o", str(lib_path), str(src)]
            subprocess.run(cmd, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return 0.0, 0.0
        lib = ctypes.CDLL(str(lib_path))
    lib.fma_peak.restype = ctypes.c_double
    lib.fma_peak.argtypes = [ctypes.c_double, ctypes.POINTER(ctypes.c_double)]
    sink = ctypes.c_double(0.0)
    one = lib.fma_peak(seconds, ctypes.byref(sink))
    rates = [0.0] * threads

    def run(i: int) -> None:
        rates[i] = lib.fma_peak(seconds, ctypes.byref(ctypes.c_double(0.0)))  # ctypes releases the GIL

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return one, sum(rates)


def physical_limit(model_dir: Path) -> dict[str, float]:
    """This machine's matmul rates (one thread) and the LSTM's own, in GFLOP/s."""
    ck = checkpoints_for(model_dir, ["S000"])[0][1]
    c = ck.config
    h = c.hidden_size
    out = {}
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out["gemm"] = _rate(lambda: a @ b, 2 * 2048**3)[0]
    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    out["gemm_all"], out["cores"] = _rate(lambda: a @ b, 2 * 2048**3)[0], cores
    torch.set_num_threads(1)
    x4 = torch.randn(4, c.sequence_length, 5)
    x1 = x4[:1].numpy().copy()
    kernel = LSTMKernel(ck.net)
    out["backend"] = kernel.backend
    with torch.inference_mode():
        runs = (("bare4", lambda: ck.net(x4)), ("kernel1", lambda: kernel(x1)), ("split1", lambda: kernel(x1, cores)))
        for name, f in runs:
            for _ in range(30):
                f()
            calls: list[float] = []
            for _ in range(1000):  # as often as the 1-symbol path runs: the call's own tail
                t0 = time.perf_counter()
                f()
                calls.append(time.perf_counter() - t0)
            out[f"{name}_p50"], out[f"{name}_p99"] = _ms(calls, 50), _ms(calls, 99)
    flop1 = lstm_flops_per_sample(5, h, c.num_layers, c.sequence_length)
    xs = np.random.default_rng(0).standard_normal((512, c.sequence_length, 5)).astype(np.float32)
    out["l2"] = l2_read_rate()
    out["window_bytes"] = window_weight_bytes(5, h, c.num_layers, c.sequence_length)
    out["kernel512"] = _rate(lambda: kernel(xs), 512 * flop1)[0]
    out["kernel512_all"] = _rate(lambda: kernel(xs, threads=cores), 512 * flop1)[0]
    for rows in (4, 100):
        x, w = torch.randn(rows, h), torch.randn(h, 4 * h)
        out[f"step{rows}"] = _rate(lambda x=x, w=w: x @ w, 2 * rows * h * 4 * h)[0]
        xs = torch.randn(rows, c.sequence_length, 5)
        with torch.inference_mode():
            out[f"lstm{rows}"] = _rate(
                lambda xs=xs: ck.net(xs), rows * lstm_flops_per_sample(5, h, c.num_layers, c.sequence_length)
            )[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/tradingmodel_bench_live")
    args = ap.parse_args()
    torch.set_num_threads(1)
    minutes = 40 if args.quick else 200
    syms = [f"S{i:03d}" for i in range(100)]
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch {torch.get_num_threads()} thread")
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        bars = simulate(syms, 3, seed=5, signal=1.0)
        train(bars[bars["symbol"].isin(syms[:2])], CFG, tmpd / "m", pooled=True, progress=False)
        m100 = hundred_symbol_model(tmpd / "m", tmpd / "m100", syms)
        flop1 = lstm_flops_per_sample(5, CFG.hidden_size, CFG.num_layers, CFG.sequence_length)
        print(
            f"# model: LSTM {CFG.num_layers}x{CFG.hidden_size}, window {CFG.sequence_length}, 5 inputs: "
            f"{flop1 / 1e6:.2f} MFLOP per window"
        )

        # --- compute path ----------------------------------------------------------------------
        parts = {}
        for n, mins, ref in ((1, minutes, minutes), (100, max(10, minutes // 4), 3 if args.quick else 5)):
            one = bars[bars["symbol"].isin(syms[:n])]
            r = parts[n] = compute_path(m100, one, syms[:n], mins, ref)
            for q in (50, 99):
                f, s = _ms(r["total"], q), _ms(r["reference"], q)
                print(
                    f"bar->orders p{q}, compute path, {n} symbol{'s' * (n > 1)}: {f:.3f} ms = "
                    f"{s / f:.1f}x faster than model.predict per symbol ({s:.3f} ms)"
                )
            tot = _ms(r["total"], 50)
            for part in ("features", "model", "strategy"):
                v = _ms(r[part], 50)
                sym = f"{n} symbol{'s' * (n > 1)}"
                print(f"  part p50, {part}, {sym}: {v:.3f} ms = {v / tot:.2f}x the path ({tot:.3f} ms)")

        # --- physical limit ----------------------------------------------------------------------
        lim = physical_limit(m100)
        print(f"matmul rate, 2048x2048x2048: {lim['gemm']:.1f} GFLOP/s = 1.0x itself (the machine's large-GEMM rate)")
        for rows in (4, 100):
            h, step = CFG.hidden_size, lim[f"step{rows}"]
            print(
                f"matmul rate, [{rows}x{h}]x[{h}x{4 * h}] (one LSTM step, {rows} rows): {step:.1f} GFLOP/s = "
                f"{step / lim['gemm']:.2f}x the large GEMM"
            )
            print(
                f"LSTM forward rate, {rows} rows: {lim[f'lstm{rows}']:.1f} GFLOP/s = "
                f"{lim[f'lstm{rows}'] / lim['gemm']:.2f}x the large GEMM"
            )
        best = max(lim["gemm"], lim["step4"], lim["step100"])
        cores, best_all = lim["cores"], lim["gemm_all"]
        print(
            f"matmul rate, 2048x2048x2048, {cores} threads: {best_all:.1f} GFLOP/s = {best_all / lim['gemm']:.2f}x "
            "one thread"
        )
        kb, kb_all = lim["kernel512"], lim["kernel512_all"]
        print(
            f"inference kernel rate ({lim['backend']}), 512 windows, 1 thread: {kb:.1f} GFLOP/s = "
            f"{kb / lim['lstm100']:.2f}x torch's LSTM on 100 rows ({lim['lstm100']:.1f} GFLOP/s)"
        )
        print(
            f"inference kernel rate ({lim['backend']}), 512 windows, {cores} threads: {kb_all:.1f} GFLOP/s = "
            f"{kb_all / kb:.2f}x one thread"
        )
        peak1, peak_all = fma_peak(cores)
        if peak1:
            print(
                f"FMA peak (float32, register-only loop), 1 thread: {peak1:.1f} GFLOP/s = {peak1 / kb:.2f}x the "
                f"kernel on 512 windows ({kb:.1f}); {cores} threads: {peak_all:.1f} GFLOP/s = "
                f"{peak_all / kb_all:.2f}x the kernel on {cores} threads ({kb_all:.1f})"
            )
        else:
            print("FMA peak: not measured (no C compiler, or a CPU without AVX2 + FMA)")
        # the floor: the FMA peak where measured (nothing runs faster), else the best matmul rate measured
        rate1, rate_all = (peak1, peak_all) if peak1 else (max(best, kb), max(best_all, kb_all))
        what = "the FMA peak" if peak1 else "the best matmul rate measured"
        for n, rows in ((1, 1), (100, 100)):
            gflop = rows * flop1 / 1e9
            floor = gflop / rate1 * 1e3
            floor_all = gflop / rate_all * 1e3
            print(
                f"physical limit, {n} symbol{'s' * (n > 1)} ({rows} row{'s' * (rows > 1)}, {gflop * 1e3:.1f} MFLOP at "
                f"{what}, {rate1:.1f} GFLOP/s, 1 core): {floor:.2f} ms = "
                f"{floor / TARGET_MS[n]:.2f}x the {TARGET_MS[n]:g} ms target ({cores} cores at "
                f"{rate_all:.1f} GFLOP/s: {floor_all:.2f} ms = {floor_all / TARGET_MS[n]:.2f}x the target)"
            )
        mb, l2 = lim["window_bytes"] / 1e6, lim["l2"]
        floor_bw, one = mb / 1e3 / l2 * 1e3, lim["kernel1_p50"]
        print(
            f"physical limit, 1 symbol, memory (one window streams {mb:.1f} MB of weights from L2 at the measured "
            f"{l2:.1f} GB/s, 1 core): {floor_bw:.3f} ms = {floor_bw / one:.2f}x the kernel's p50 ({one:.3f} ms)"
        )
        two = lim["split1_p50"]
        print(
            f"physical limit, 1 symbol, memory, {cores} cores (each streams 1/{cores} of the weights: the kernel "
            f"splits the hidden units): {floor_bw / cores:.3f} ms = {floor_bw / cores / two:.2f}x the kernel's p50 on "
            f"{cores} threads ({two:.3f} ms)"
        )
        for q in (50, 99):
            one, two = lim[f"kernel1_p{q}"], lim[f"split1_p{q}"]
            print(
                f"bare network call p{q}, 1 window, the kernel on {cores} threads (half the hidden units each, the "
                f"live path): {two:.3f} ms = {one / two:.2f}x faster than on one thread ({one:.3f} ms)"
            )
        for q in (50, 99):
            one, bare, path = lim[f"kernel1_p{q}"], lim[f"bare4_p{q}"], _ms(parts[1]["total"], q)
            print(
                f"bare network call p{q}, 1 window, the kernel on one thread: {one:.3f} ms = "
                f"{bare / one:.2f}x faster than torch on the 4 rows it needed for model.predict's bits "
                f"({bare:.3f} ms); the compute path is {path / lim[f'split1_p{q}']:.2f}x the kernel on {cores} threads"
            )

        # --- engine: replay at --speed 0 -----------------------------------------------------------
        warm = CFG.sequence_length + 40
        t_first = bars["timestamp"].min()
        for n, mins in ((1, 60 if args.quick else 290), (100, 15 if args.quick else 60)):
            rb = bars[bars["symbol"].isin(syms[:n])]
            rb = rb[rb["timestamp"] < t_first + pd.Timedelta(minutes=warm + mins)].reset_index(drop=True)
            for label, url in (("SQLite", f"sqlite:///{tmpd}/r{n}.db"), ("PostgreSQL", args.pg)):
                try:
                    r = engine_replay(m100, rb, url, tmpd, warm, f"bench-{n}-{time.time_ns()}")
                    empty = empty_transaction(url)
                except Exception as exc:  # noqa: BLE001 - a missing server is reported, not hidden
                    print(f"engine replay, {label}, {n} symbols: not measured ({type(exc).__name__}: {exc})")
                    continue
                sym = f"{n} symbol{'s' * (n > 1)}"
                tot = _ms(r["slice"], 50)
                for q in (50, 99):
                    v, c = _ms(r["handed"], q), _ms(parts[n]["total"], q)
                    print(
                        f"bar->orders p{q}, engine ({label}, decision commit included), {sym}: {v:.3f} ms = "
                        f"{v / c:.1f}x the compute path ({c:.3f} ms)"
                    )
                first = max(r["first"]) * 1e3
                print(
                    f"  first {WARM_SLICES} slices (not counted above), slowest, {label}, {sym}: {first:.3f} ms = "
                    f"{first / _ms(r['handed'], 50):.1f}x bar->orders p50"
                )
                for q in (50, 99):
                    v, h = _ms(r["slice"], q), _ms(r["handed"], q)
                    print(
                        f"  whole slice p{q} (and the status commit after the submits), {label}, {sym}: {v:.3f} ms = "
                        f"{v / h:.2f}x bar->orders ({h:.3f} ms)"
                    )
                c = _ms(r["commit"], 50)
                empty, one_row = empty
                print(
                    f"slice commit p50, {label}, {sym}: {c:.2f} ms = {c / (empty * 1e3):.1f}x an empty write "
                    f"transaction ({empty * 1e3:.2f} ms); {c / (one_row * 1e3):.1f}x a one-row write transaction "
                    f"({one_row * 1e3:.2f} ms, the durable-commit floor); {c / tot:.2f}x the engine's slice"
                )
                for part in ("executor", "send"):
                    v = _ms(r[part], 50)
                    print(
                        f"  engine part p50, {part}, {label}, {sym}: {v:.3f} ms = "
                        f"{v / tot:.2f}x the slice ({tot:.3f} ms)"
                    )
                if label == "SQLite":
                    preds = predict(m100, rb)
                    run_backtest(rb, preds, r["cfg"].trading)  # compiled (or loaded from numba's cache) once
                    t0 = time.perf_counter()
                    run_backtest(rb, preds, r["cfg"].trading)
                    t_bt = time.perf_counter() - t0
                    traded = int((rb["timestamp"] > rb["timestamp"].unique()[warm - 1]).sum())
                    whole = traded / r["wall"]
                    steady = n * len(r["slice"]) / sum(r["slice"])  # every symbol has a bar every minute here
                    print(
                        f"replay --speed 0 throughput, {sym} (SQLite, slices only): {steady:,.0f} bars/s = "
                        f"{len(rb) / t_bt / steady:.0f}x slower than run_backtest ({len(rb) / t_bt:,.0f} bars/s)"
                    )
                    print(
                        f"replay --speed 0 throughput, {sym} (SQLite, whole session with its start): "
                        f"{whole:,.0f} bars/s = {len(rb) / t_bt / whole:.0f}x slower than run_backtest "
                        f"({len(rb) / t_bt:,.0f} bars/s)"
                    )
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
