"""GET /api/v1/runs and /api/v1/runs/{id}/report: run folders written by ``report.write_run_folder`` and session
rows of ``runs`` as one list (newest first, paginated), each folder's own report.html and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.api.conftest import Api
from tradingmodel.report import write_run_folder
from tradingmodel.store import save_run_row

TRADING = {"total_return_pct": 1.25, "maximum_drawdown_pct": 0.5, "sharpe_ratio": 1.1, "total_trades": 7}


def _folder(kind: str, **kw: object) -> Path:
    """A real run folder under ./reports (the server's default reports root; tests run in a tmp cwd)."""
    equity = pd.DataFrame(
        {"timestamp": pd.date_range("2024-01-02 14:30", periods=3, freq="1min", tz="UTC"), "equity": [1e4, 1e4, 1e4]}
    )
    return write_run_folder(kind, config=None, provenance={"source": "test", "symbols": ["AAA"]}, equity=equity, **kw)


@pytest.fixture
def runs(api: Api) -> dict[str, object]:
    """A backtest folder, a finished session (row + folder naming it) and a running session (row only)."""
    e = api.engine
    backtest = _folder("backtest", trading_metrics=TRADING, model_metrics={"direction_accuracy": 52.5})
    finished = save_run_row(e, "paper", "", {"total_return_pct": -0.3}, None, symbols=["AAA", "BBB"])
    paper = _folder("paper", trading_metrics={"total_return_pct": -0.3}, extra={"session_run_id": finished})
    running = save_run_row(e, "paper", "", {}, None, symbols=["CCC"], status="running")
    return {"backtest": backtest.name, "finished": finished, "paper": paper.name, "running": running}


def test_runs_list_folders_and_sessions_newest_first(api: Api, runs: dict[str, object]) -> None:
    r = api.client.get("/api/v1/runs")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    got = {x["id"]: x for x in body["runs"]}
    assert set(got) == {runs["backtest"], runs["paper"], f"db-{runs['running']}"}  # the finished row = its folder
    times = [pd.Timestamp(x["created_at"]) for x in body["runs"]]
    assert times == sorted(times, reverse=True)
    bt = got[runs["backtest"]]
    assert bt["kind"] == "backtest" and bt["has_report"] and bt["symbols"] == ["AAA"]
    assert bt["figures"] == {**{k: float(v) for k, v in TRADING.items()}, "direction_accuracy": 52.5}
    paper = got[runs["paper"]]
    assert paper["session_run_id"] == runs["finished"] and paper["status"] == "finished"
    assert paper["figures"] == {"total_return_pct": -0.3}
    live = got[f"db-{runs['running']}"]
    assert live["status"] == "running" and live["symbols"] == ["CCC"] and not live["has_report"]
    kinds = api.client.get("/api/v1/runs", params={"kind": "backtest"}).json()["runs"]
    assert [x["id"] for x in kinds] == [runs["backtest"]]


def test_runs_pages_cover_the_list_once(api: Api, runs: dict[str, object]) -> None:
    whole = [x["id"] for x in api.client.get("/api/v1/runs").json()["runs"]]
    seen, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/api/v1/runs", params=params).json()
        seen += [x["id"] for x in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole and len(seen) == 3
    bad = api.client.get("/api/v1/runs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert api.client.get("/api/v1/runs", params={"limit": 0}).status_code == 422


def test_report_is_the_folders_own_file(api: Api, runs: dict[str, object]) -> None:
    r = api.client.get(f"/api/v1/runs/{runs['backtest']}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.content == (Path("reports") / str(runs["backtest"]) / "report.html").read_bytes()
    # a session's row id opens its folder's report
    r = api.client.get(f"/api/v1/runs/db-{runs['finished']}/report")
    assert r.status_code == 200
    assert r.content == (Path("reports") / str(runs["paper"]) / "report.html").read_bytes()


def test_report_404s_and_no_path_escapes(api: Api, runs: dict[str, object], tmp_path: Path) -> None:
    c = api.client
    running = c.get(f"/api/v1/runs/db-{runs['running']}/report")
    assert running.status_code == 404 and "no run folder" in running.json()["detail"]
    assert c.get("/api/v1/runs/db-999999/report").status_code == 404
    assert c.get("/api/v1/runs/20240101-000000-backtest-abcdef/report").status_code == 404
    (Path("reports") / str(runs["paper"]) / "report.html").unlink()
    gone = c.get(f"/api/v1/runs/{runs['paper']}/report")
    assert gone.status_code == 404 and "no report.html" in gone.json()["detail"]
    # a folder-like name that is a symlink to a folder outside the reports root is never served
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "report.html").write_text("secret")
    os.symlink(outside, Path("reports") / "20240101-000000-backtest-abc123")
    assert c.get("/api/v1/runs/20240101-000000-backtest-abc123/report").status_code == 404
    assert "20240101-000000-backtest-abc123" not in [x["id"] for x in c.get("/api/v1/runs").json()["runs"]]
    for bad in ("..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e", "reports", "x" * 81):
        r = c.get(f"/api/v1/runs/{bad}/report")
        assert r.status_code in (404, 422), (bad, r.status_code)
        assert "secret" not in r.text and "root:" not in r.text


def test_runs_routes_need_the_key(api: Api, runs: dict[str, object]) -> None:
    for path in ("/api/v1/runs", f"/api/v1/runs/{runs['backtest']}/report"):
        assert httpx.get(api.base + path).status_code == 401
        assert httpx.get(api.base + path, headers={"X-API-Key": "wrong"}).status_code == 403
