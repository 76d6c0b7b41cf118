"""Crash safety: a replay session SIGKILLed at random moments (test-only crash points, among them between
committing a decision and submitting it and between a fill and its position update) and restarted each time
ends with exactly the fills, positions and equity of an uninterrupted session, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pandas as pd
import pytest

from tests.live.conftest import run_forked
from tests.live.helpers import book, paper_args, session_store
from tradingmodel.live.crash import POINTS

KILLS = 10
# how many visits of each point a run may wait for: per slice points soon (each run must leave bars for the
# next ones), per fill / order points within a few, the rarer ones at their first visit
REACH = {
    "slice_before_commit": 10,
    "after_executor_bars": 10,
    "after_decision_commit": 10,
    "fill_before_position": 2,
    "after_submit": 2,
    "after_cancel": 1,
    "before_fill_record": 1,
}


def _crash_plan(seed: int) -> list[str]:
    """One spec per run: a random point and visit, plus a per-slice point a little later as a fallback, so
    that every run is killed (whichever comes first) and the session is never finished by a run that waits
    for a point it does not reach."""
    rng = random.Random(seed)
    plan = ["after_decision_commit:3", "fill_before_position:1,after_decision_commit:12"]  # the two the issue names
    while len(plan) < KILLS + 4:
        p = rng.choice(POINTS)
        spec = f"{p}:{rng.randint(1, REACH[p])}"
        if p != "slice_before_commit":
            spec += f",slice_before_commit:{rng.randint(4, 12)}"
        plan.append(spec)
    return plan


@pytest.mark.slow
def test_killed_and_restarted_session_ends_with_the_uninterrupted_book(
    model_dir: Path, bars_file: Path, config_file: Path, tmp_path: Path, db_url: str
) -> None:
    ref_url = f"sqlite:///{tmp_path}/reference.db"
    assert run_forked(*paper_args(bars_file, model_dir, config_file, ref_url, "ref", tmp_path / "b-ref")) == 0
    want = book(session_store(ref_url, "ref"))
    assert len(want["fills"]) >= 10

    args = paper_args(bars_file, model_dir, config_file, db_url, "crashy", tmp_path / "b-crash")
    kills, tried = 0, []
    for spec in _crash_plan(seed=20261202):
        rc = run_forked(*args, env={"TRADINGMODEL_CRASH_AT": spec})
        tried.append((spec, rc))
        if rc == -signal.SIGKILL:
            kills += 1
        else:
            assert rc == 0, tried
        if kills >= KILLS:
            break
    assert kills >= KILLS, tried
    assert run_forked(*args) == 0
    got = book(session_store(db_url, "crashy"))
    cols = ["timestamp", "symbol", "side", "quantity", "price", "commission"]
    pd.testing.assert_frame_equal(got["fills"][cols], want["fills"][cols], check_exact=True)
    assert got["fills"]["fill_id"].is_unique
    assert got["positions"] == want["positions"]
    pd.testing.assert_frame_equal(got["equity"], want["equity"], check_exact=True)
