"""Training jobs: queued by the API, run by a worker process, with progress, cancel, failure and status;
the API keeps answering while a model trains."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.api.conftest import SYMBOL, TINY, Api, start_api, wait_for
from tradingmodel.services.training import get_job
from tradingmodel.store import ingest_bars

LONG = {**TINY, "num_epochs": 500, "patience": 500}


@pytest.fixture
def trainer(db_url: str, tmp_path: Path, sim_bars: pd.DataFrame) -> Iterator[Api]:
    """A server with one training worker process, over a database holding ``sim_bars``."""
    srv, api = start_api(db_url, tmp_path, workers=1)
    ingest_bars(api.engine, sim_bars)
    try:
        yield api
    finally:
        api.client.close()
        srv.__exit__()


def _job(api: Api, job_id: int) -> dict:
    r = api.client.get(f"/api/v1/model/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def _submit(api: Api, params: dict, **extra: object) -> int:
    r = api.client.post("/api/v1/model/train", json={"symbols": [SYMBOL.lower()], "params": params, **extra})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    return int(r.json()["job_id"])


@pytest.mark.slow
def test_a_job_trains_while_the_portfolio_answers_fast(trainer: Api) -> None:
    api = trainer
    idle = []  # the same requests with the worker idle: what the machine itself gives
    for _ in range(100):
        t0 = time.perf_counter()
        assert api.client.get("/api/v1/portfolio").status_code == 200
        idle.append(time.perf_counter() - t0)
        time.sleep(0.01)
    bad = _submit(api, TINY, start="2024-01-02T14:30:00+00:00", end="2024-01-02T15:00:00+00:00")
    good = _submit(api, {**TINY, "num_epochs": 8, "patience": 8})
    timings, during = [], 0
    deadline = time.monotonic() + 300
    while (status := _job(api, good)["status"]) in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {good} still {status} after 300 s"
        t0 = time.perf_counter()
        r = api.client.get("/api/v1/portfolio")
        timings.append(time.perf_counter() - t0)
        assert r.status_code == 200
        during += status == "running"
        time.sleep(0.01)
    failed = _job(api, bad)
    assert failed["status"] == "failed" and "too few" in failed["error"]  # and the worker went on
    job = _job(api, good)
    assert job["status"] == "succeeded", job
    assert during >= 30, f"only {during} portfolio requests while the job ran"
    p99 = float(np.percentile(np.array(timings) * 1000, 99))
    idle_p99 = float(np.percentile(np.array(idle) * 1000, 99))
    assert p99 < 100, f"GET /portfolio p99 {p99:.1f} ms while training (worker idle: {idle_p99:.1f} ms)"
    prog = job["progress"]
    assert prog["epoch"] >= 1 and prog["model"] == SYMBOL
    assert prog["train_loss"] > 0 and prog["val_loss"] > 0 and prog["samples_per_s"] > 0
    status = api.client.get("/api/v1/model/status").json()
    assert status["active"][SYMBOL] == job["model_id"]
    model = next(m for m in status["models"] if m["id"] == job["model_id"])
    m = model["metrics"]
    assert m["split"] == "test" and m["bars_scored"] > 0  # scored on the unseen test part
    assert "direction_accuracy" in m["baseline"] and "direction_accuracy" in m["ar_baseline"]
    assert [j["id"] for j in status["jobs"]] == [good, bad]
    r = api.client.post("/api/v1/analysis/predict", json={"symbol": SYMBOL})
    assert r.status_code == 200 and r.json()["model_id"] == job["model_id"]


@pytest.mark.slow
def test_cancel_a_running_job(trainer: Api) -> None:
    api = trainer
    job_id = _submit(api, LONG)
    wait_for(lambda: _job(api, job_id)["progress"], 90, 0.1, "the first epoch")
    r = api.client.delete(f"/api/v1/model/jobs/{job_id}")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    job = wait_for(lambda: (j := _job(api, job_id))["status"] != "running" and j, 60, 0.1, "the job to stop")
    assert job["status"] == "cancelled" and job["model_id"] is None
    assert job["progress"]["epoch"] < LONG["num_epochs"]
    r = api.client.delete(f"/api/v1/model/jobs/{job_id}")
    assert r.status_code == 409 and "already ended (cancelled)" in r.json()["detail"]


@pytest.mark.slow
def test_a_worker_killed_while_the_server_runs_is_noticed(trainer: Api) -> None:
    """SIGKILL the worker mid-job: the server's supervisor marks the job interrupted within seconds (no
    restart), keeps answering, and a replacement worker runs the next job."""
    api = trainer
    job_id = _submit(api, LONG)
    wait_for(lambda: _job(api, job_id)["progress"], 90, 0.1, "the first epoch")
    pid = get_job(api.engine, job_id)["worker_pid"]
    assert pid in api.app.state.pool.pids()
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    job = wait_for(lambda: (j := _job(api, job_id))["status"] != "running" and j, 15, 0.1, "the job to be marked")
    noticed_s = time.monotonic() - t0
    assert job["status"] == "interrupted" and "worker stopped" in job["error"], job
    assert noticed_s < 15 and job["model_id"] is None and job["progress"]["epoch"] >= 1
    assert api.client.get("/health").json()["database"] is True  # the server ran on throughout
    new = _submit(api, {**TINY, "num_epochs": 1})
    done = wait_for(
        lambda: (j := _job(api, new))["status"] not in ("queued", "running") and j, 180, 0.2, "the next job"
    )
    assert done["status"] == "succeeded", done
    assert get_job(api.engine, new)["worker_pid"] not in (None, pid)


def test_queued_jobs_cancel_at_once_and_bad_requests(stored: Api) -> None:
    api = stored  # no worker: jobs stay queued
    job_id = _submit(api, TINY)
    r = api.client.delete(f"/api/v1/model/jobs/{job_id}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.client.delete("/api/v1/model/jobs/999999").status_code == 404
    assert api.client.get("/api/v1/model/jobs/999999").status_code == 404
    cases = [
        ({"symbols": ["ZZZ"]}, 404, "unknown symbol(s) ZZZ"),
        ({"symbols": []}, 422, "symbols"),
        ({"symbols": ["AAA"], "params": {"hidden_size": 0}}, 422, "params.hidden_size"),
        ({"symbols": ["AAA"], "params": {"layers": 2}}, 422, "params.layers: unknown key"),
        ({"symbols": ["AAA"], "params": {"pooled": "yes"}}, 422, "params.pooled"),
        ({"symbols": ["AAA"], "params": {"num_epochs": 10**6}}, 422, "num_epochs"),
        ({"symbols": ["AAA"], "start": "2024-02-01", "end": "2024-01-01"}, 422, "empty range"),
        ({"symbols": ["AAA"], "timeframe": "1q"}, 422, "bad timeframe"),
    ]
    for body, status, words in cases:
        r = api.client.post("/api/v1/model/train", json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["detail"], (body, r.json())
    jobs = api.client.get("/api/v1/model/status").json()["jobs"]
    assert [(j["id"], j["status"]) for j in jobs] == [(job_id, "cancelled")]  # no bad request was queued
