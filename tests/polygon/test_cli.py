"""``tradingmodel fetch`` and ``tradingmodel stream`` end to end against the fake server."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from tradingmodel.cli import app
from tradingmodel.data.polygon.fake import FakePolygon
from tradingmodel.store import get_engine, load_bars

from .support import API_KEY, make_bars

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("POLYGON_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url


def point_at(monkeypatch, fake: FakePolygon) -> None:
    monkeypatch.setenv("POLYGON_BASE_URL", fake.base_url)
    monkeypatch.setenv("POLYGON_WS_URL", fake.ws_url)


def test_fetch_command_stores_and_resumes(fake, bars, env, monkeypatch) -> None:
    point_at(monkeypatch, fake)
    fake.page_size = 400
    args = ["fetch", "--symbols", "aapl,MSFT", "--from", "2024-01-01", "--to", "2024-01-10"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "AAPL 1m: 1,170 bars stored, 3 requests" in res.output
    assert len(load_bars(get_engine(env), ["AAPL", "MSFT"], timeframe="1m")) == len(bars)
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "0 bars stored, 0 requests (all already stored)" in res.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"POLYGON_API_KEY": "nope"}, "Polygon rejected the API key"),
        ({"POLYGON_API_KEY": ""}, "no Polygon API key"),
    ],
)
def test_fetch_command_bad_key(fake, env, monkeypatch, change, message) -> None:
    point_at(monkeypatch, fake)
    for k, v in change.items():
        monkeypatch.setenv(k, v)
    res = runner.invoke(app, ["fetch", "-s", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02"])
    assert res.exit_code == 2 and message in res.output


def test_fetch_command_unknown_ticker_and_bad_dates(fake, env, monkeypatch) -> None:
    point_at(monkeypatch, fake)
    res = runner.invoke(app, ["fetch", "-s", "NOPE", "--from", "2024-01-01", "--to", "2024-01-02"])
    assert res.exit_code == 2 and "NOPE: unknown ticker" in res.output
    res = runner.invoke(app, ["fetch", "-s", "AAPL", "--from", "2024-01-05", "--to", "2024-01-02"])
    assert res.exit_code == 2 and "before --from" in res.output
    res = runner.invoke(app, ["fetch", "-s", "AAPL", "--from", "Jan 1", "--to", "2024-01-02"])
    assert res.exit_code == 2 and "--from must be a date" in res.output


def test_stream_command_records_and_prints_each_bar(env, monkeypatch) -> None:
    bars = make_bars(["AAPL", "MSFT"], 1)
    with FakePolygon(bars, api_key=API_KEY, live=True) as fake:
        point_at(monkeypatch, fake)
        fake.feed.publish(10)
        fake.feed.drop_after([100], outage=5)

        def play() -> None:
            fake.feed.wait_subscribed(1)
            fake.feed.play(0.001)

        threading.Thread(target=play, daemon=True).start()
        res = runner.invoke(app, ["stream", "-s", "AAPL,MSFT", "--duration", "2", "--since", "2024-01-02T14:30:00Z"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if " 1m o=" in ln]
    assert len(lines) == len(bars)
    assert "2024-01-02 14:30:00Z AAPL   1m" in lines[0] and "[rest, received" in lines[0]
    assert any("[ws, received" in ln for ln in lines)
    assert f"{len(bars):,} bars recorded" in res.output
    stored = load_bars(get_engine(env), ["AAPL", "MSFT"], timeframe="1m")
    assert len(stored) == len(bars) and not stored.duplicated(["symbol", "timestamp"]).any()


def test_stream_command_auth_failure(env, monkeypatch) -> None:
    with FakePolygon(make_bars(["AAPL"], 1), api_key="other-key", live=True) as fake:
        point_at(monkeypatch, fake)
        res = runner.invoke(app, ["stream", "-s", "AAPL", "--duration", "5"])
    assert res.exit_code == 2 and "auth_failed" in res.output and "POLYGON_API_KEY" in res.output
