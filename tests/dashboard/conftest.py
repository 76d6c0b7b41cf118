"""Dashboard fixtures: a real uvicorn server on 127.0.0.1 over SQLite filled through the store, and Debian's
chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.api.conftest import KEY, Api, start_api
from tests.conftest import require
from tradingmodel.data import simulate
from tradingmodel.store import ingest_bars, save_run_row

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SYMBOLS = ["AAA", "BBB"]


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    """One session of simulated minute bars of two symbols."""
    return simulate(SYMBOLS, 1, seed=11)


@pytest.fixture
def server(tmp_path: Path, bars: pd.DataFrame) -> Iterator[Api]:
    """The API and dashboard over a SQLite file holding ``bars`` and a running paper session of both symbols."""
    url = f"sqlite:///{tmp_path}/store.db"
    srv, a = start_api(url, tmp_path)
    try:
        ingest_bars(a.engine, bars)
        a.run_id = save_run_row(a.engine, "paper", "", {}, None, symbols=SYMBOLS, status="running")  # type: ignore[attr-defined]
        yield a
    finally:
        a.client.close()
        srv.__exit__()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module. Not per session: Playwright's sync API keeps an asyncio loop running in
    the main thread while it is open, and every later test calling ``asyncio.run`` would then fail."""
    require(shutil.which("chromium") is not None, "chromium")
    try:
        from playwright import sync_api as pw_api
    except ImportError:
        require(False, "playwright (the dev extra)")
    with pw_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watched:
    """A page with its console errors, page errors and every request URL recorded."""

    def __init__(self, browser: Any, base: str, width: int = 1366, height: int = 768) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def login(self, key: str = KEY, query: str = "") -> None:
        self.page.goto(self.base + "/" + query)
        self.page.fill("#key", key)
        self.page.click("#login-form button[type=submit]")

    def outside(self) -> list[str]:
        ws = self.base.replace("http://", "ws://")
        return [u for u in self.requests if not (u.startswith(self.base + "/") or u.startswith(ws + "/"))]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any, server: Api) -> Iterator[Watched]:
    w = Watched(browser, server.base)
    try:
        yield w
    finally:
        w.close()


def shoot(w: Watched, name: str, tmp_path: Path) -> Path:
    """Screenshot under ./reports/dashboard/ (for a reviewer) and a copy in the test's tmp dir."""
    out = Path("reports") / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    w.page.screenshot(path=str(path), full_page=True)
    shutil.copy(path, tmp_path / path.name)
    return path
