"""Shared test helpers.

Tests that need a server (PostgreSQL, Redis, chromium) call :func:`require` : outside CI a missing
server skips the test with the reason; in CI (``CI=true``) it fails, so CI never passes by skipping.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when ``what`` is not available."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available")


def pytest_configure(config: pytest.Config) -> None:
    # Keep CPU tests deterministic and light on a 2-core machine.
    try:
        import torch

        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in an empty working directory, so default paths (``./reports``, the SQLite file
    under ``./data``, ``.env``) never touch the checkout or leak between tests."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
