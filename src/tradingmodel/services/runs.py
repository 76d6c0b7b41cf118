"""Past runs: backtests and paper/live sessions with their key figures, and each one's ``report.html``.

Two records of a run exist today: its run folder ``<reports>/<run-id>/`` (``report.write_run_folder``: every
backtest, demo, evaluation and finished session) and, for a paper/live session, its ``runs`` row. A
session's folder names its row (``run.json`` ``extra.session_run_id``), so the two are shown as one run;
a row without a folder yet (a session still running) is listed as ``db-<row id>`` without a report.

The id of a run is its folder name (``20261124-081500-backtest-3fa9c2``) or ``db-<n>``: both are checked
against a strict pattern before any path is built, and a report is served only from a folder listed under
the reports root (never a symlink, never a path outside it), so no request can name another file.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from tradingmodel.services.errors import Invalid, NotFound
from tradingmodel.store.schema import Run

FOLDER_RE = re.compile(r"^(\d{8}-\d{6})-([a-z][a-z0-9_]{0,31})-[0-9a-f]{6}$")
DB_RE = re.compile(r"^db-([1-9]\d{0,17})$")
MAX_PAGE = 500
MAX_FOLDERS = 20_000  # folders looked at per request; older ones beyond are not listed
# The figures a list shows: trading ones from the run's metrics, model ones from its model metrics.
TRADING_FIGURES = (
    "total_return_pct",
    "buy_and_hold_return_pct",
    "maximum_drawdown_pct",
    "sharpe_ratio",
    "total_trades",
    "win_rate",
    "final_equity",
)
MODEL_FIGURES = ("direction_accuracy", "bars_scored")


@dataclass
class RunSummary:
    """One past run: what it was, when, on what, its key figures and whether it has a report."""

    id: str
    kind: str
    created_at: datetime
    status: str = "finished"
    name: str | None = None
    symbols: list[str] = field(default_factory=list)
    figures: dict[str, float | None] = field(default_factory=dict)
    session_run_id: int | None = None
    has_report: bool = False


@dataclass
class RunPage:
    """A page of runs, newest first; ``next_cursor`` is None on the last page."""

    runs: list[RunSummary]
    next_cursor: str | None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _figures(trading: Any, model: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for src, keys in ((trading, TRADING_FIGURES), (model, MODEL_FIGURES)):
        if isinstance(src, dict):
            out.update({k: _number(src[k]) for k in keys if k in src})
    return out


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _folder(root: Path, name: str) -> Path | None:
    """``root/name`` when ``name`` is a run-folder name and that is a real directory under ``root``."""
    if not FOLDER_RE.match(name):
        return None
    p = root / name
    if p.is_symlink() or not p.is_dir():
        return None
    try:
        p.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return p


def _folder_runs(root: Path) -> list[RunSummary]:
    if not root.is_dir():
        return []
    names = sorted((n.name for n in root.iterdir() if FOLDER_RE.match(n.name)), reverse=True)[:MAX_FOLDERS]
    out = []
    for name in names:
        p = _folder(root, name)
        if p is None:
            continue
        m = FOLDER_RE.match(name)
        assert m is not None
        meta = _read_json(p / "run.json")
        try:
            created = _aware(datetime.fromisoformat(str(meta["created_utc"])))
        except (KeyError, ValueError):
            created = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
        extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
        prov = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
        sid = extra.get("session_run_id")
        out.append(
            RunSummary(
                id=name,
                kind=str(meta.get("kind") or m.group(2)),
                created_at=created,
                symbols=[str(s) for s in prov.get("symbols", []) or []],
                session_run_id=sid if isinstance(sid, int) and not isinstance(sid, bool) else None,
                has_report=(p / "report.html").is_file() and not (p / "report.html").is_symlink(),
            )
        )
    return out


def _db_runs(engine: Engine) -> list[dict[str, Any]]:
    r = Run
    cols = (r.id, r.name, r.kind, r.status, r.symbols, r.metrics, r.created_at)
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).order_by(r.created_at.desc(), r.id.desc()).limit(MAX_FOLDERS))
        return [dict(x._mapping) for x in rows]


def _all_runs(engine: Engine, root: Path) -> list[RunSummary]:
    folders = _folder_runs(root)
    rows = {int(x["id"]): x for x in _db_runs(engine)}
    linked = set()
    for f in folders:
        row = rows.get(f.session_run_id) if f.session_run_id is not None else None
        if row is not None:
            linked.add(int(row["id"]))
            f.name, f.status = row["name"], row["status"]
            f.symbols = f.symbols or list(row["symbols"] or [])
    runs = list(folders)
    for rid, row in rows.items():
        if rid in linked:
            continue
        metrics = row["metrics"] if isinstance(row["metrics"], dict) else {}
        runs.append(
            RunSummary(
                id=f"db-{rid}",
                kind=row["kind"],
                created_at=_aware(row["created_at"]),
                status=row["status"],
                name=row["name"],
                symbols=list(row["symbols"] or []),
                figures=_figures(metrics, metrics.get("model")),
                session_run_id=rid,
            )
        )
    runs.sort(key=lambda x: (x.created_at, x.id), reverse=True)
    return runs


def _encode(run: RunSummary) -> str:
    raw = json.dumps([run.created_at.isoformat(), run.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, rid = json.loads(raw)
        return _aware(datetime.fromisoformat(created)), str(rid)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise Invalid("cursor: not a next_cursor of this list") from None


def list_runs(
    engine: Engine, reports_root: str | Path, *, limit: int = 50, cursor: str | None = None, kind: str | None = None
) -> RunPage:
    """A page of past runs, newest first (by creation time, then id), optionally of one ``kind``."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit: between 1 and {MAX_PAGE}")
    root = Path(reports_root)
    runs = _all_runs(engine, root)
    if kind is not None:
        runs = [r for r in runs if r.kind == kind]
    if cursor is not None:
        after = _decode(cursor)
        runs = [r for r in runs if (r.created_at, r.id) < after]
    page = runs[:limit]
    for r in page:
        if r.id.startswith("db-"):
            continue
        metrics = _read_json(root / r.id / "metrics.json")
        r.figures = _figures(metrics.get("trading"), metrics.get("model"))
    return RunPage(page, _encode(page[-1]) if len(runs) > limit else None)


def report_path(engine: Engine, reports_root: str | Path, run_id: str) -> Path:
    """The ``report.html`` of run ``run_id``: only a listed run folder's own file; :class:`NotFound` else."""
    root = Path(reports_root)
    if DB_RE.match(run_id):
        with engine.connect() as conn:
            known = conn.execute(select(Run.id).where(Run.id == int(run_id[3:]))).scalar() is not None
        if not known:
            raise NotFound(f"no run {run_id}")
        sid = int(run_id[3:])
        linked = [f.id for f in _folder_runs(root) if f.session_run_id == sid]
        if not linked:
            raise NotFound(f"run {run_id} has no run folder (a running session writes its report when it ends)")
        run_id = linked[0]  # the newest folder of that session
    folder = _folder(root, run_id)
    if folder is None:
        raise NotFound(f"no run {run_id!r} under the reports folder")
    report = folder / "report.html"
    if report.is_symlink() or not report.is_file():
        raise NotFound(f"run {run_id} has no report.html")
    return report
