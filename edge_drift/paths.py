"""Where edge-drift keeps a person's data: one folder (profiles, pulled models, model hashes), each part movable."""
from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "EDGE_DRIFT_HOME"          # the whole data folder
PROFILES_ENV = "EDGE_DRIFT_PROFILES"  # only the profiles
MODELS_ENV = "EDGE_DRIFT_CACHE"       # only the pulled models


def data_dir() -> Path:
    """$EDGE_DRIFT_HOME, else $XDG_DATA_HOME/edge-drift, else ~/.local/share/edge-drift."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "edge-drift"


def profiles_dir(option: str | os.PathLike | None = None) -> Path:
    """--profiles-dir, else $EDGE_DRIFT_PROFILES, else DATA/profiles."""
    chosen = option or os.environ.get(PROFILES_ENV)
    return Path(chosen).expanduser() if chosen else data_dir() / "profiles"


def models_dir() -> Path:
    """Pulled GGUF files: $EDGE_DRIFT_CACHE, else DATA/models."""
    chosen = os.environ.get(MODELS_ENV)
    return Path(chosen).expanduser() if chosen else data_dir() / "models"


def hashes_dir() -> Path:
    """sha256 of model files, remembered by path, size and mtime (hashing 1 GB takes seconds)."""
    return models_dir() / ".sha256"


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under a folder; (0, 0) when it does not exist."""
    if not path.is_dir():
        return 0, 0
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def data_report(profiles_option: str | os.PathLike | None = None) -> dict:
    """Where every part of a person's data is and how big it is (what `edge-drift data` prints)."""
    profiles = profiles_dir(profiles_option)
    users = []
    if profiles.is_dir():
        for folder in sorted(p for p in profiles.iterdir() if p.is_dir() and not p.name.startswith(".")):
            size, count = folder_size(folder)
            users.append({"user": folder.name, "path": str(folder), "bytes": size, "files": count})
    report = {"data_dir": str(data_dir()), "parts": []}
    for name, path, env in (("profiles", profiles, PROFILES_ENV), ("models", models_dir(), MODELS_ENV)):
        size, count = folder_size(path)
        report["parts"].append({"part": name, "path": str(path), "bytes": size, "files": count,
                                "set_by": env if os.environ.get(env) else None})
    report["users"] = users
    return report
