"""``tradingmodel serve`` refuses to start where it would be unsafe or cannot work: one line, exit 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tradingmodel.cli import app


def test_non_loopback_host_without_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADINGMODEL_API_KEYS", "")
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert r.exit_code == 2
    assert "set TRADINGMODEL_API_KEYS" in r.output and "Traceback" not in r.output


def test_paper_needs_a_model_and_its_options_need_paper() -> None:
    r = CliRunner().invoke(app, ["serve", "--paper"])
    assert r.exit_code == 2 and "serve --paper needs --model DIR" in r.output
    r = CliRunner().invoke(app, ["serve", "--model", "m"])
    assert r.exit_code == 2 and "are options of --paper" in r.output
