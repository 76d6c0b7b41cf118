"""A training job started from the page's form runs in a real worker process, shows its progress in the
jobs table and ends in the models list, active for its symbol, with its figures beside the baselines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import TINY, Api, start_api
from tests.dashboard.conftest import Watched, shoot
from tradingmodel.data import simulate
from tradingmodel.store import ingest_bars

PARAMS = {k: v for k, v in TINY.items() if k != "num_epochs"}
OBSERVE = """() => {
  window.jobSeen = [];
  new MutationObserver(() => {
    for (const tr of document.querySelectorAll('#job-table tbody tr')) {
      const bar = tr.querySelector('progress');
      window.jobSeen.push([tr.cells[1].textContent, bar ? bar.value : null]);
    }
  }).observe(document.getElementById('job-table'), {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def trainer(tmp_path: Path) -> Iterator[Api]:
    """A server with one training worker process over SQLite holding two sessions of AAA's bars."""
    srv, api = start_api(f"sqlite:///{tmp_path}/store.db", tmp_path, workers=1)
    try:
        ingest_bars(api.engine, simulate(["AAA"], 2, seed=4, signal=1.0))
        yield api
    finally:
        api.client.close()
        srv.__exit__()


def test_a_job_from_the_form_shows_progress_and_ends_in_the_models_list(
    browser: Any, trainer: Api, tmp_path: Path
) -> None:
    w = Watched(browser, trainer.base)
    try:
        w.login()
        page = w.page
        page.wait_for_selector("#conn.live", timeout=15_000)
        page.evaluate(OBSERVE)
        page.fill("#train-symbols", "aaa")
        page.fill("#train-epochs", "2")
        page.fill("#train-params", json.dumps(PARAMS))
        page.click("#train-form button[type=submit]")
        page.wait_for_selector("#train-msg:has-text('queued')", timeout=5000)
        job_id = int(page.inner_text("#train-msg").split()[1])
        row = f"#job-table tr[data-job='{job_id}']"
        page.wait_for_selector(f"{row} td:nth-child(2):text-is('succeeded')", timeout=120_000)
        assert page.get_attribute(f"{row} progress", "max") == "2"
        assert page.evaluate(f'document.querySelector("{row} progress").value') == 2
        assert "epoch 2/2" in page.inner_text(row)
        seen = page.evaluate("window.jobSeen")
        assert any(s == "running" for s, _ in seen), seen  # the page showed the job while it trained
        assert [s for s, _ in seen][-1] == "succeeded"
        model_id = int(page.inner_text(row).split("→ model ")[1].split()[0])
        mrow = f"#model-table tr[data-model='{model_id}']"
        page.wait_for_selector(mrow, timeout=5000)
        cells = page.eval_on_selector_all(f"{mrow} td", "tds => tds.map(t => t.textContent)")
        assert cells[1] == f"job-{job_id}" and cells[2] == "AAA" and cells[3] == "AAA"  # active for AAA
        assert all("%" in c and "[" in c for c in cells[4:7]), cells  # model, persistence, AR with intervals
        assert "(test)" in cells[8]
        shoot(w, "training", tmp_path)
        assert w.errors == [] and w.outside() == []
    finally:
        w.close()
