"""``train`` and ``backtest`` record what they made in the database (``--db``, default DATABASE_URL), beside the
run folder, so the API and the dashboard list CLI runs too; ``--no-db`` writes no row; a bad URL fails first."""

from __future__ import annotations

import json
from pathlib import Path

from tradingmodel.store import dispose_engines, get_engine, list_models, list_runs

from .conftest import SMALL, assert_user_error, cli_env, run_cli


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "small.toml"
    cfg.write_text("[model]\n" + "".join(f"{k} = {v}\n" for k, v in SMALL.items()))
    return cfg


def test_train_and_backtest_are_recorded(bar_file: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    cfg = _config(tmp_path)
    tr = run_cli("train", "--data", bar_file, "--out", tmp_path / "m", "--config", cfg, "--no-progress", "--db", url)
    assert tr.returncode == 0, tr.stderr
    bt = run_cli("backtest", "--data", bar_file, "--model", tmp_path / "m", "--db", url)
    assert bt.returncode == 0, bt.stderr
    js = run_cli("backtest", "--data", bar_file, "--model", tmp_path / "m", "--db", url, "--json")
    assert js.returncode == 0, js.stderr
    engine = get_engine(url)
    try:
        models = list_models(engine)
        runs = list_runs(engine, kind="backtest")
    finally:
        dispose_engines()
    assert len(models) == 1 and f"database: model {models[0]['id']}" in tr.stdout
    assert models[0]["symbols"] == ["AAA"] and models[0]["metrics"]["best_epoch"] == {"AAA": 1}
    assert Path(models[0]["path"]).resolve() == (tmp_path / "m").resolve() or Path(models[0]["path"]).is_relative_to(
        (tmp_path / "m").resolve()
    )
    assert len(runs) == 2 and f"database: run {runs[1]['id']}" in bt.stdout  # newest first: the --json run
    printed = json.loads(js.stdout)
    for key in ("total_trades", "final_equity", "total_return_pct"):
        assert runs[0]["metrics"][key] == printed[key] == runs[1]["metrics"][key], key


def test_no_db_writes_no_row_and_a_bad_url_fails_before_training(bar_file: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    env = cli_env(DATABASE_URL=f"sqlite:///{tmp_path / 'default.db'}")
    ok = run_cli("train", "--data", bar_file, "--out", tmp_path / "m", "--config", cfg, "--no-db", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "database:" not in ok.stdout and not (tmp_path / "default.db").exists()
    bad = run_cli("train", "--data", bar_file, "--out", tmp_path / "m2", "--config", cfg, "--db", "mysql://x/y")
    assert_user_error(bad, "database")
    assert not (tmp_path / "m2").exists()
