"""Issue 10's consistency items: one time rule, config errors with their table, --config where settings are
read, --version, help without ``<bool>``, one note for an unsorted file, singular counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tradingmodel import __version__
from tradingmodel.cli import app
from tradingmodel.cli.common import UserError, cli_time, input_bars
from tradingmodel.data import simulate, write_bars
from tradingmodel.store import get_engine, ingest_bars

from .conftest import run_cli

runner = CliRunner()


def _text(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("value", "end", "utc"),
    [
        ("2024-01-02", False, "2024-01-02T05:00:00+00:00"),  # a New York date starts at New York midnight
        ("2024-01-02", True, "2024-01-03T05:00:00+00:00"),  # as an end, the whole New York day is included
        ("2024-01-02T09:30", False, "2024-01-02T14:30:00+00:00"),  # winter: EST, UTC-5
        ("2024-07-01 09:30", False, "2024-07-01T13:30:00+00:00"),  # summer: EDT, UTC-4
        ("2024-01-02T09:30", True, "2024-01-02T14:30:00+00:00"),  # a time is an exclusive end as typed
        ("2024-01-02T14:30Z", False, "2024-01-02T14:30:00+00:00"),  # an explicit offset wins
        ("2024-01-02T09:30-05:00", False, "2024-01-02T14:30:00+00:00"),
    ],
)
def test_one_time_rule(value: str, end: bool, utc: str) -> None:
    assert cli_time(value, "--from", end=end).isoformat() == utc


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("Jan 2nd", "--from: cannot read 'Jan 2nd'"),
        ("2024-03-10T02:30", "daylight-saving"),  # 02:30 does not exist in New York that night
    ],
)
def test_bad_times_are_user_errors(value: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        cli_time(value, "--from")


def test_database_ranges_are_new_york_dates_and_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    ingest_bars(get_engine(url), simulate(["AAA"], 3, seed=1), timeframe="1m", progress=False)
    day = input_bars(None, "AAA", "2024-01-03", "2024-01-03")[0]
    assert len(day) == 390 and day["timestamp"].iloc[0] == pd.Timestamp("2024-01-03T14:30Z")
    hour = input_bars(None, "AAA", "2024-01-03T10:00", "2024-01-03T11:00")[0]
    assert len(hour) == 60 and hour["timestamp"].iloc[0] == pd.Timestamp("2024-01-03T15:00Z")
    utc = input_bars(None, "AAA", "2024-01-03T15:00Z", "2024-01-03T15:10+00:00")[0]
    assert len(utc) == 10 and utc["timestamp"].iloc[0] == pd.Timestamp("2024-01-03T15:00Z")
    r = runner.invoke(app, ["evaluate", "--model", "m", "--from", "2024-01-04", "--to", "2024-01-03"])
    assert r.exit_code == 2 and "--to (2024-01-03) is not after --from (2024-01-04)" in _text(r.output)


def test_help_states_the_time_rule_and_shows_no_bool() -> None:
    for cmd in (["train"], ["backtest"], ["stream"]):
        r = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "300"})
        assert r.exit_code == 0
        assert "<bool>" not in r.output
    r = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert "New York exchange time unless it has an offset" in _text(r.output)
    r = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "300"})
    assert "--null " in r.output and "<bool>" not in r.output


def test_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"tradingmodel {__version__}"


def test_config_errors_keep_the_table_and_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text("[model]\nhidden_size = 0\n")
    r = runner.invoke(app, ["train", "--data", "bars.csv", "--out", "m", "--config", str(bad)])
    assert r.exit_code == 2
    assert _text(r.output) == f"error: {bad}: [model] hidden_size: Input should be greater than 0"
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    r = runner.invoke(app, ["backtest", "--data", "bars.csv", "--model", "m", "--config", str(binary)])
    assert r.exit_code == 2 and f"{binary}: not a text file" in _text(r.output)


def test_config_on_evaluate_and_predict_checks_the_model(small_model: Path, bar_file: Path, tmp_path: Path) -> None:
    same, other = tmp_path / "same.toml", tmp_path / "other.toml"
    same.write_text("[model]\nsequence_length = 20\nhidden_size = 8\n")
    other.write_text("[model]\nhidden_size = 64\n")
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(small_model),
            "--data",
            str(bar_file),
            "--no-report",
            "--json",
            "--config",
            str(same),
        ],
    )
    assert r.exit_code == 0, r.output
    for cmd in (["evaluate", "--no-report"], ["predict", "--out", str(tmp_path / "p.csv")]):
        r = runner.invoke(
            app, [cmd[0], "--model", str(small_model), "--data", str(bar_file), *cmd[1:], "--config", str(other)]
        )
        assert r.exit_code == 2, r.output
        assert "was trained with hidden_size 8 (the config says 64)" in _text(r.output)
    assert not (tmp_path / "p.csv").exists()


def test_docs_list_the_options_that_override_the_config() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[4].strip()
        for line in docs.splitlines()
        if line.startswith("| `") and line.count("|") == 5
    }
    assert rows["num_epochs"] == "`--epochs`" and rows["seed"] == "`--seed`"
    assert rows["hidden_size"] == "-"  # set in the file only
    assert rows["buy_threshold"] == "`--buy-threshold`" and rows["flatten_at_close"].startswith("`--flatten-at-close`")
    assert rows["volume_multiplier"] == "-"
    r = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert "--epochs" in r.output and "--config" in r.output
    for cmd in ("evaluate", "predict", "backtest", "demo"):
        assert "--config" in runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "300"}).output


def test_train_force_replaces_a_model(small_model: Path, bar_file: Path, tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(small_model, model)
    old = (model / "AAA" / "meta.json").read_text()
    cfg = tmp_path / "small.toml"
    cfg.write_text("[model]\nsequence_length = 20\nhidden_size = 8\nnum_layers = 1\nseed = 4\n")
    r = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(bar_file),
            "--out",
            str(model),
            "--force",
            "--epochs",
            "1",
            "--config",
            str(cfg),
            "--no-progress",
            "--no-report",
            "--threads",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    new = json.loads((model / "AAA" / "meta.json").read_text())
    assert new != json.loads(old) and new["config"]["seed"] == 4  # the new model replaced the old


def test_unsorted_file_note_prints_once(tmp_path: Path) -> None:
    bars = simulate(["AAA", "BBB"], 1, seed=2)
    data = tmp_path / "unsorted.csv"
    write_bars(bars, data)
    lines = data.read_text().splitlines()
    data.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    proc = run_cli("validate-bars", "--data", data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"note: {data}: 780 of 780 rows were out of (symbol, timestamp) order; sorted them"
    ]


def test_counts_are_singular_for_one(tmp_path: Path) -> None:
    r = runner.invoke(app, ["simulate", "--symbols", "AAA", "--days", "1", "--out", str(tmp_path / "b.csv")])
    assert r.exit_code == 0 and "(1 symbol × 1 session," in _text(r.output)
