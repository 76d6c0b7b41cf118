"""A server killed (SIGKILL, with its workers) while a job trains shows the job ``interrupted`` after a
restart, never ``running``; the restarted server's worker runs new jobs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.api.conftest import HEADERS, SYMBOL, TINY, ServeProcess, wait_for
from tradingmodel.services.training import get_job
from tradingmodel.store import get_engine, ingest_bars


@pytest.mark.slow
def test_killed_server_marks_the_running_job_interrupted(db_url: str, tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    engine = get_engine(db_url)
    ingest_bars(engine, sim_bars)
    server = ServeProcess(db_url, tmp_path)
    try:
        r = httpx.post(
            server.base + "/api/v1/model/train",
            headers=HEADERS,
            timeout=30,
            json={"symbols": [SYMBOL], "params": {**TINY, "num_epochs": 500, "patience": 500}},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        wait_for(lambda: get_job(engine, job_id)["progress"], 120, 0.2, "the job's first epoch")
        server.kill()
    finally:
        server.stop()
    assert get_job(engine, job_id)["status"] == "running"  # what a killed server leaves behind

    server = ServeProcess(db_url, tmp_path)
    try:
        r = httpx.get(f"{server.base}/api/v1/model/jobs/{job_id}", headers=HEADERS, timeout=30)
        assert r.status_code == 200
        assert r.json()["status"] == "interrupted" and "worker stopped" in r.json()["error"]
        assert r.json()["progress"]["epoch"] >= 1  # the progress it had made is kept
        r = httpx.post(
            server.base + "/api/v1/model/train",
            headers=HEADERS,
            timeout=30,
            json={"symbols": [SYMBOL], "params": {**TINY, "num_epochs": 1}},
        )
        new = r.json()["job_id"]
        job = wait_for(
            lambda: (j := get_job(engine, new))["status"] not in ("queued", "running") and j,
            180,
            0.5,
            "the new job to finish",
        )
        assert job["status"] == "succeeded", job
    finally:
        server.stop()
