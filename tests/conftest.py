"""Shared fixtures, and the two layers: `real` tests load the embedded model, start a server or drive Chromium;
the rest need none of them and run in seconds (`make test-fast`, i.e. `pytest -m "not real"`)."""
from __future__ import annotations

import os

import pytest

from edge_drift.engine import Engine


# A test that asks for one of these is a `real` test; one that reaches the model another way says so itself
# with @pytest.mark.real (or a module-level `pytestmark`).
REAL_FIXTURES = {"engine", "server", "client", "browser", "page", "encoder"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def engine() -> Engine:
    with Engine("default") as loaded:
        yield loaded


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path, monkeypatch):
    """Never touch the real user cache or profiles folder from a test."""
    monkeypatch.setenv("EDGE_DRIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EDGE_DRIFT_CACHE", str(tmp_path / "cache" / "models"))
    monkeypatch.setenv("EDGE_DRIFT_PROFILES", str(tmp_path / "profiles"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    os.environ.pop("EDGE_DRIFT_DEBUG", None)
