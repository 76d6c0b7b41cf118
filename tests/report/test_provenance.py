"""Provenance: the bars hash identifies the data, not its timestamp resolution or row order."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

import tradingmodel
from tradingmodel.report import bars_hash, provenance
from tradingmodel.report.provenance import git_commit

from .conftest import make_bars


def test_bars_hash_is_stable_and_sensitive() -> None:
    bars = make_bars(["AAA", "BBB"], 1)
    h = bars_hash(bars)
    ns = bars.assign(timestamp=bars["timestamp"].astype("datetime64[ns, UTC]"))
    assert bars_hash(ns) == h
    assert bars_hash(bars.iloc[::-1].reset_index(drop=True)) == h
    changed = bars.copy()
    changed.loc[100, "close"] += 0.01
    assert bars_hash(changed) != h
    assert bars_hash(bars[bars["symbol"] == "AAA"]) != h


def test_provenance_describes_the_bars_and_is_json() -> None:
    bars = make_bars(["BBB", "AAA"], 1)
    p = provenance(bars, source="simulator", seed=3)
    assert p["source"] == "simulator" and p["seed"] == 3 and p["symbols"] == ["AAA", "BBB"]
    assert p["bars"] == len(bars) and len(p["bars_sha256"]) == 64
    assert pd.Timestamp(p["start"]) == bars["timestamp"].min() and pd.Timestamp(p["end"]) == bars["timestamp"].max()
    assert p["versions"]["pandas"] == pd.__version__
    # in a git checkout the commit must be recorded (asked of git here, independently); outside one, None
    where = Path(tradingmodel.__file__).resolve().parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True)
    if head.returncode == 0:
        assert p["git_commit"] is not None and p["git_commit"].split("+")[0] == head.stdout.strip()
    else:
        assert p["git_commit"] is None
    json.dumps(p)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_git_commit_is_head_and_marks_local_changes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git_commit(repo) is None  # not a repository
    _git(repo, "init", "-q")
    (repo / "a.txt").write_text("one\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert len(head) == 40 and git_commit(repo) == head
    (repo / "new.txt").write_text("untracked files do not count\n")
    assert git_commit(repo) == head
    (repo / "a.txt").write_text("two\n")
    assert git_commit(repo) == head + "+dirty"
