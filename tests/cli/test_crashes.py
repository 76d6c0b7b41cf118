"""Issue 10's crash walk: each bad input, through the real CLI in a subprocess, is exit code 2 with one line
naming the problem, no traceback, and nothing written."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MAIN, assert_user_error, cli_env, run_cli


def _damage(model: Path, kind: str) -> Path:
    weights = model / "AAA" / "model.pt"
    if kind == "random":
        weights.write_bytes(os.urandom(5000))
    elif kind == "truncated":
        weights.write_bytes(weights.read_bytes()[:300])
    else:
        weights.write_bytes(b"")
    return weights


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_damaged_checkpoint_is_named_with_retrain_advice(
    small_model: Path, bar_file: Path, tmp_path: Path, kind: str
) -> None:
    model = tmp_path / "m"
    shutil.copytree(small_model, model)
    weights = _damage(model, kind)
    preds = tmp_path / "p.csv"
    line = assert_user_error(
        run_cli("predict", "--model", model, "--data", bar_file, "--out", preds),
        f"{weights}: damaged weights file",
        "retrain the model or restore the file",
    )
    assert "weights_only" not in line  # torch's advice to load unsafely is not passed on
    assert not preds.exists()


def test_damaged_metadata_is_named(small_model: Path, bar_file: Path, tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(small_model, model)
    (model / "AAA" / "meta.json").write_bytes(os.urandom(64))
    assert_user_error(
        run_cli("evaluate", "--model", model, "--data", bar_file, "--no-report"),
        f"{model / 'AAA' / 'meta.json'}: damaged metadata",
        "retrain",
    )
    assert not Path("reports").exists()


def test_train_on_a_header_only_file(tmp_path: Path) -> None:
    data = tmp_path / "header_only.csv"
    data.write_text("symbol,timestamp,open,high,low,close,volume\n")
    assert_user_error(run_cli("train", "--data", data, "--out", tmp_path / "m"), f"{data}: the file has no bars")
    assert not (tmp_path / "m").exists() and not Path("reports").exists()


def test_train_out_checked_before_training(bar_file: Path, small_model: Path, tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.write_text("keep me")
    assert_user_error(run_cli("train", "--data", bar_file, "--out", existing), f"--out {existing}: is a file")
    assert existing.read_text() == "keep me"
    model = tmp_path / "m"
    shutil.copytree(small_model, model)
    before = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    assert_user_error(run_cli("train", "--data", bar_file, "--out", model), "a model is already there", "--force")
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == before
    assert not Path("reports").exists()


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (["import", "{bars}", "--url", "notaurl"], {}, ["'notaurl' (--url) is not a URL", "postgresql://"]),
        (["import", "{bars}", "--url", "mysql://u@localhost/db"], {}, ["mysql is not supported", "sqlite:///"]),
        (["db", "current"], {"DATABASE_URL": "garbage"}, ["'garbage' (DATABASE_URL) is not a URL", "sqlite:///"]),
        (["evaluate", "--model", "m", "--symbols", "AAA"], {"DATABASE_URL": "garbage"}, ["(DATABASE_URL)"]),
    ],
)
def test_bad_database_url(bar_file: Path, args: list[str], env: dict[str, str], needles: list[str]) -> None:
    args = [a.replace("{bars}", str(bar_file)) for a in args]
    assert_user_error(run_cli(*args, env=cli_env(**env)), *needles)
    assert not Path("data").exists()  # no SQLite file was created on the way


def test_stream_that_never_connects(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/stocks"
    env = cli_env(
        POLYGON_API_KEY="k",
        POLYGON_WS_URL=url,
        POLYGON_BASE_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
    )
    assert_user_error(
        run_cli("stream", "-s", "AAPL", "--duration", "1", env=env), f"never connected to {url}", "POLYGON_WS_URL"
    )


@pytest.mark.slow
def test_ctrl_c_during_training_keeps_the_best_epoch_and_exits_130(bar_file: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "long.toml"
    cfg.write_text(
        "[model]\nsequence_length = 20\nhidden_size = 8\nnum_layers = 1\nnum_epochs = 10000\npatience = 10000\n"
    )
    out = tmp_path / "m"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            MAIN,
            "train",
            "--data",
            str(bar_file),
            "--out",
            str(out),
            "--config",
            str(cfg),
            "--threads",
            "1",
            "--no-report",
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stderr.readline()  # one line per epoch when stderr is not a terminal
        assert first.startswith("AAA: epoch 1 "), first
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: stopped by Ctrl-C; kept AAA (best epoch ") and str(out) in last
    assert (out / "manifest.json").is_file() and (out / "AAA" / "model.pt").is_file()
    assert run_cli("evaluate", "--model", out, "--data", bar_file, "--no-report").returncode == 0
