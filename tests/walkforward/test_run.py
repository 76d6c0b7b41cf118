"""The same small walk-forward on the serial, process and Ray executors; a failing task; a killed run
resumed; the command's output and report."""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.config import config_to_toml
from tradingmodel.store import get_engine
from tradingmodel.store.walkforward import get_walkforward_run
from tradingmodel.walkforward import make_executor, run_walkforward

from .conftest import SPEC, app_config, spec

FIGURES = ("folds", "pooled", "stitched", "significance", "failures", "words")


def _figures(summary: dict) -> dict:
    return {k: summary[k] for k in FIGURES}


def test_serial_run_scores_trades_and_reports_the_failing_tasks_with_their_fold(serial_run) -> None:
    s = serial_run.summary
    assert s["tasks"] == {"total": 6, "ran": 6, "skipped": 0, "failed": 2}
    assert sorted((f["fold"], f["symbol"]) for f in s["failures"]) == [(0, "BBB"), (1, "BBB")]
    assert all("fold" in f["error"] and "too few" in f["error"] for f in s["failures"])
    assert [f["fold"] for f in s["folds"]] == [0, 1, 2] and s["folds"][-1]["partial"]
    assert s["folds"][0]["symbols"] == ["AAA"] and s["folds"][2]["symbols"] == ["AAA", "BBB"]
    for f in s["folds"]:  # every fold: model beside both baselines, both strategies in % and $
        assert {"baseline", "ar_baseline"} <= set(f["model"]) and f["model"]["bars_scored"] > 0
        assert {"total_return_pct", "total_profit"} <= set(f["trading"]) <= set(f["ar_trading"]) | {"rejections"}
    # predictions only inside the test periods, every test bar but the last of each period scored
    pred = serial_run.predictions
    for f in s["folds"]:
        p = pred[pred["fold"] == f["fold"]]
        assert p["timestamp"].min() >= pd.Timestamp(f["test_start"]) and p["timestamp"].max() < pd.Timestamp(
            f["test_end"]
        )
    # the stitched curve chains the folds: its growth is the product of the folds' growths
    growth = 1.0
    for f in s["folds"]:
        growth *= f["trading"]["final_equity"] / f["trading"]["deposit"]
    assert s["stitched"]["model"]["final_equity"] == pytest.approx(10_000 * growth)
    assert {"dm_vs_persistence", "dm_vs_ar", "direction", "sharpe_bootstrap", "deflated_sharpe"} <= set(
        s["significance"]
    )
    assert s["significance"]["deflated_sharpe"]["trials"] == 2
    # in plain words: per fold and overall, whether the model beats doing nothing
    for f in s["folds"]:
        beats = f["tests"]["beats_doing_nothing"]
        assert f["words"].startswith(f"Fold {f['fold']} (") and ("beats" if beats else "does not beat") in f["words"]
    assert s["words"][-1].startswith("Overall: the model " + ("beats" if s["significance"]["edge"] else "does not"))


@pytest.mark.slow  # forks two workers from the fork server and starts a Ray worker, each importing torch
def test_process_and_ray_executors_give_identical_figures(serial_run, holed_bars, tmp_path, ray_session) -> None:
    with make_executor("process", workers=2) as ex:
        proc = run_walkforward(holed_bars, spec(), app_config(), executor=ex, out_dir=tmp_path / "p")
    with make_executor("ray") as ex:
        assert ex.workers == 1  # the session's local instance (1 CPU: one worker imports torch), not a new one
        assert [n["NodeManagerAddress"] for n in ray_session.nodes()] == ["127.0.0.1"]  # loopback only
        ray_run = run_walkforward(holed_bars, spec(), app_config(), executor=ex, out_dir=tmp_path / "r")
    assert _figures(proc.summary) == _figures(serial_run.summary)
    assert _figures(ray_run.summary) == _figures(serial_run.summary)
    pd.testing.assert_frame_equal(proc.predictions, serial_run.predictions)
    pd.testing.assert_frame_equal(ray_run.predictions, serial_run.predictions)
    # the driver wrote one manifest per fold with every successful symbol's checkpoint
    man = json.loads((tmp_path / "r" / "checkpoints" / "fold-002" / "manifest.json").read_text())
    assert set(man["symbols"]) == {"AAA", "BBB"}


def _cli_args(data: Path, cfg: Path, out: Path) -> list[str]:
    return [
        "walkforward",
        "--data",
        str(data),
        "--config",
        str(cfg),
        "--out",
        str(out),
        "--executor",
        "serial",
        "--train-days",
        str(SPEC["train_days"]),
        "--val-days",
        str(SPEC["val_days"]),
        "--test-days",
        str(SPEC["test_days"]),
    ]


@pytest.mark.slow  # a real subprocess, killed, then the command again
def test_killed_run_resumes_skipping_finished_tasks_and_reports(serial_run, holed_bars, tmp_path) -> None:
    data, cfg, out = tmp_path / "bars.parquet", tmp_path / "cfg.toml", tmp_path / "wf"
    holed_bars.to_parquet(data)
    cfg.write_text(config_to_toml(app_config()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "from tradingmodel.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *_cli_args(data, cfg, out), "--no-report"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list((out / "tasks").glob("*.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "tasks").glob("*.json")))
    assert 2 <= finished < 6 - 2, "the run was not killed half-way"  # 2 of the 6 tasks fail, never stored
    db = f"sqlite:///{tmp_path}/wf.db"
    res = CliRunner().invoke(
        app, [*_cli_args(data, cfg, out), "--json", "--reports", str(tmp_path / "rep"), "--db", db]
    )
    assert res.exit_code == 1, res.output  # two tasks failed: the others finished and the figures are out
    s = json.loads(res.stdout[res.stdout.index("{") :])
    assert s["tasks"]["skipped"] == finished and s["tasks"]["ran"] == 6 - finished
    want = json.loads(json.dumps(_figures(serial_run.summary), default=str))
    for d in (want, s):  # the command draws 2,000 bootstrap samples, the fixture 300: all else is equal
        d["significance"].pop("sharpe_bootstrap")
        d["words"] = [w for w in d["words"] if not w.startswith("Sharpe")]
    assert want == _figures(s)
    assert "2 task(s) failed" in res.stderr and "fold 0 BBB" in res.stderr
    run_dir = next((tmp_path / "rep").glob("*-walkforward-*"))
    row = get_walkforward_run(get_engine(db), run_dir.name)  # the driver stored the run under the folder's name
    assert row is not None and row["status"] == "partial" and row["metrics"]["folds"] == s["folds"]
    assert row["params"]["executor"] == "serial" and row["params"]["run_folder"] == str(run_dir)
    assert f"database: run {row['id']}" in res.stderr
    page = (run_dir / "report.html").read_text()
    for needle in (
        "Walk-forward folds",
        "Stitched out-of-sample equity",
        "chart-wf-equity",
        "Significance",
        "Diebold-Mariano",
        s["words"][0][:40],
        s["words"][-1][:60],  # overall: beats doing nothing or not
        s["folds"][0]["words"][:60],  # per fold, under the fold table
        "beats doing nothing?",
        "fold 1 BBB",
    ):
        assert html.escape(needle) in page


def test_bad_fold_options_are_one_line_errors(small_bars, tmp_path) -> None:
    data = tmp_path / "bars.parquet"
    small_bars.to_parquet(data)
    res = CliRunner().invoke(
        app,
        [
            "walkforward",
            "--data",
            str(data),
            "--train-days",
            "14",
            "--test-days",
            "7",
            "--step-days",
            "2",
            "--no-report",
            "--executor",
            "serial",
            "--db",
            f"sqlite:///{tmp_path}/wf.db",  # not the default URL: its engine is cached per process
        ],
    )
    assert res.exit_code == 2 and "--step-days 2.0 is shorter than --test-days 7.0" in res.stderr
    assert "Traceback" not in res.output
