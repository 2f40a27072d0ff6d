"""Shared fixtures: the embedded model is loaded once per test session (loading costs seconds)."""
from __future__ import annotations

import os

import pytest

from edge_drift.engine import Engine


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
