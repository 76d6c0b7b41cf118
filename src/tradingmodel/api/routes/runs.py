"""Past runs: ``GET /api/v1/runs`` (paginated, newest first) and ``GET /api/v1/runs/{id}/report``.

The reports root is the server's ``reports_dir`` when its config has one, else ``./reports`` (the CLI's
``--reports`` default), so the list shows the run folders the CLI and the sessions write beside it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from tradingmodel.api.routes_data import ERRORS, secured
from tradingmodel.services import runs as run_service

router = APIRouter(responses=ERRORS, dependencies=secured, tags=["runs"])
RunId = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]


class RunSummary(BaseModel):
    """One backtest or paper/live session."""

    id: str = Field(description="run folder name (YYYYMMDD-HHMMSS-kind-hex), or db-<n> for a session without one")
    kind: str = Field(description="backtest | paper | live | demo | train | evaluate | walkforward ...")
    created_at: datetime
    status: str = Field(description="finished | running | stopped | error")
    name: str | None = Field(description="a session's name")
    symbols: list[str]
    figures: dict[str, float | None] = Field(
        description="key figures: total_return_pct, buy_and_hold_return_pct, maximum_drawdown_pct, "
        "sharpe_ratio, total_trades, win_rate, final_equity, direction_accuracy, bars_scored (those it has)"
    )
    session_run_id: int | None = Field(description="the session's row in `runs`, when it is one")
    has_report: bool = Field(description="whether /api/v1/runs/{id}/report serves a report.html")


class RunPage(BaseModel):
    runs: list[RunSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def reports_root(request: Request) -> FsPath:
    """Where the run folders are: ``cfg.reports_dir`` when the server's config has it, else ``reports``."""
    return FsPath(getattr(request.app.state.cfg, "reports_dir", None) or "reports")


@router.get("/api/v1/runs", response_model=RunPage)
def list_runs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=run_service.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page")] = None,
    kind: Annotated[str | None, Query(max_length=32, description="only runs of this kind")] = None,
) -> dict[str, Any]:
    """Backtests and sessions, newest first, with their key figures and whether each has a report."""
    page = run_service.list_runs(request.app.state.engine, reports_root(request), limit=limit, cursor=cursor, kind=kind)
    return {"runs": [asdict(r) for r in page.runs], "next_cursor": page.next_cursor}


@router.get(
    "/api/v1/runs/{run_id}/report",
    response_class=FileResponse,
    responses={200: {"content": {"text/html": {}}, "description": "the run's report.html"}},
)
def run_report(request: Request, run_id: RunId) -> FileResponse:
    """The run folder's self-contained ``report.html`` (404 when the run or its report does not exist)."""
    path = run_service.report_path(request.app.state.engine, reports_root(request), run_id)
    return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})
