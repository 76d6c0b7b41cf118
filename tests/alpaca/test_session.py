"""Replay sessions through the AlpacaExecutor (the engine stand-in of ``session_driver``): each decided order
placed exactly once, each fill applied once, positions equal the fake's, under every fault switch and across
SIGKILLs of the session process at random moments (one of them between the broker's acceptance and the ack)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.alpaca.session_driver import Journal, decisions, run_session
from tests.alpaca.support import config, run
from tradingmodel.execution.alpaca.fake import FakeAlpaca

BARS = 16
ROOT = Path(__file__).resolve().parents[2]


def _check_exactly_once(fake: FakeAlpaca, journal: Journal) -> None:
    decided = [c for (c,) in journal.db.execute("SELECT cid FROM orders")]
    assert sorted(decided) == sorted(o.client_order_id for b in range(BARS) for o in decisions(b))
    sent = [c for (c, s) in journal.db.execute("SELECT cid, status FROM orders") if s != "rejected"]
    for cid in decided:
        assert fake.order_count(cid) <= 1, f"{cid} placed {fake.order_count(cid)} times"
    assert all(fake.order_count(c) == 1 for c in sent)
    assert fake.order_count() == len(sent) + sum(1 for o in fake.book.orders.values() if o.cid.endswith("-oco"))
    broker_fills = {a["id"].split("::")[1] for a in fake.book.activities}
    ours = [f for (f,) in journal.db.execute("SELECT fill_id FROM fills")]
    assert sorted(ours) == sorted(broker_fills), "every broker execution applied exactly once"
    assert journal.positions() == {s: q for s, q in fake.positions().items() if q}


FAULTS = {
    "accept_then_504": lambda f, bar: bar in (2, 9) and f.accept_then_504(),
    "replayed_fills": lambda f, bar: (
        bar in (3, 8) and (setattr(f.stream, "replay_fills_on_reconnect", True), f.stream.drop())
    ),
    "drop_mid_fill": lambda f, bar: bar in (1, 6) and setattr(f.stream, "drop_on_next_fill", True),
    "silent": lambda f, bar: setattr(f.stream, "silent", 4 <= bar <= 6),
    "handshake_429": lambda f, bar: bar == 5 and (f.stream.reject_handshakes(2), f.stream.drop()),
    "partial_fills": lambda f, bar: setattr(f.book, "partial_chunks", 3),
    "rest_429": lambda f, bar: bar % 5 == 0 and f.fail_next(429, 1),
    "close_cancels": lambda f, bar: (
        bar == BARS - 2 and setattr(f.book, "partial_chunks", 4),
        bar == BARS and f.book.close_market(),
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_replay_session_places_each_order_once_under_fault(fake: FakeAlpaca, fault: str, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    cfg = config(fake, slice_wait_s=3.0, heartbeat_s=0.5, price_hook=fake.base_url + "/_fake/prices")
    switch = FAULTS[fault]
    summary = run(run_session(cfg, journal, BARS, on_bar=lambda bar: switch(fake, bar)), timeout=90)
    assert summary["orders"] == len([o for b in range(BARS) for o in decisions(b)])
    _check_exactly_once(fake, journal)
    if fault in ("replayed_fills", "drop_mid_fill", "handshake_429"):
        assert fake.stream.stats["connections"] >= 2
    if fault == "close_cancels":
        assert any(o.status == "canceled" and o.filled_qty > 0 for o in fake.book.orders.values())
    if fault == "partial_fills":
        assert any(a["type"] == "partial_fill" for a in fake.book.activities)


def _driver(fake: FakeAlpaca, journal: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.alpaca.session_driver",
            "--base-url",
            fake.base_url,
            "--stream-url",
            fake.stream_url,
            "--key",
            fake.key_id,
            "--secret",
            fake.secret_key,
            "--journal",
            str(journal),
            "--bars",
            str(BARS),
            "--bar-delay",
            "0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_then_restart_places_and_applies_nothing_twice(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.db"
    rng = random.Random(13)
    kills = 0
    # between the broker's acceptance and the acknowledgement: the POST is answered 3 s late, killed before
    fake.slow_answer_next(3.0)
    proc = _driver(fake, journal)
    end = time.monotonic() + 30
    while fake.order_count() == 0 and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.01)
    assert fake.order_count() == 1 and proc.poll() is None, "the first POST should be held by the fake"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    assert Journal(journal).unsent(), "killed before the ack: the journal still has the order as new"
    for _ in range(5):  # random moments: start-up, recovery, mid-slice, between submit and journal
        proc = _driver(fake, journal)
        time.sleep(rng.uniform(1.0, 3.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    proc = _driver(fake, journal)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert kills >= 5
    _check_exactly_once(fake, Journal(journal))
    assert summary["positions"] == {s: q for s, q in fake.positions().items() if q}
