"""``tradingmodel report RUN_DIR [--open]``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from tradingmodel.cli.report import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("other")  # a second command, so typer keeps "report" as a sub-command name
    def other() -> None:  # pragma: no cover - never called
        pass

    return app


def test_report_command_rebuilds_and_prints_the_path(saved_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / saved_run.name
    shutil.copytree(saved_run, copy)
    (copy / "report.html").unlink()
    result = CliRunner().invoke(_app(), ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str((copy / "report.html").resolve())
    assert (copy / "report.html").read_bytes() == (saved_run / "report.html").read_bytes()


def test_report_command_names_a_bad_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such run folder" in result.output
    result = CliRunner().invoke(_app(), ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a run folder (no run.json)" in result.output


def test_open_hands_the_file_to_the_browser(saved_run: Path, tmp_path: Path) -> None:
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(0o755)
    copy = tmp_path / saved_run.name
    shutil.copytree(saved_run, copy)
    code = (
        "import sys, typer; from tradingmodel.cli.report import register\n"
        "app = typer.Typer(); register(app); app.command('x')(lambda: None); app()"
    )
    env = {**os.environ, "BROWSER": f"{browser} %s"}
    proc = subprocess.run(
        [sys.executable, "-c", code, "report", str(copy), "--open"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert seen.read_text().strip() == (copy / "report.html").resolve().as_uri()
