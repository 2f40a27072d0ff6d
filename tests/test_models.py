"""Model resolution works offline and explains every failure in one line."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_drift.engine import Engine
from edge_drift.errors import ModelLoadError, ModelNotFoundError
from edge_drift.models import HubRef, cache_dir, list_models, resolve_model


def test_default_resolves_to_embedded_gguf():
    path = resolve_model("default")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        resolve_model(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelNotFoundError):
        Engine(str(tmp_path / "nope.gguf"))


def test_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        resolve_model(str(bad))


def test_truncated_gguf_fails_to_load_with_model_error(tmp_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(resolve_model("default").read_bytes()[:4096])
    with pytest.raises(ModelLoadError, match="could not load"):
        Engine(str(truncated))


def test_hub_reference_not_pulled_says_what_to_run():
    ref = "bartowski/SmolLM2-360M-Instruct-GGUF/SmolLM2-360M-Instruct-Q8_0.gguf"
    with pytest.raises(ModelNotFoundError, match=f"edge-drift models pull {ref}"):
        resolve_model(ref)


def test_pulled_hub_reference_resolves_offline():
    hub = HubRef.parse("owner/repo/sub/model.gguf")
    assert hub == HubRef("owner/repo", "sub/model.gguf")
    hub.local_path.parent.mkdir(parents=True)
    hub.local_path.write_bytes(resolve_model("default").read_bytes()[:64])
    assert resolve_model(str(hub)) == hub.local_path
    listing = list_models()
    assert "owner/repo/sub/model.gguf" in listing["cached"]
    assert Path(listing["cache_dir"]) == cache_dir()
    assert listing["pairs"], "the manifest lists recommended LLM + sLM pairs"


@pytest.mark.parametrize("text", ["../x/y.gguf", "a/b", "/abs/x/y.gguf", "a//b.gguf"])
def test_non_hub_strings_are_not_hub_refs(text):
    assert HubRef.parse(text) is None


def test_a_mistyped_local_path_is_not_taken_for_a_hub_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "smol").mkdir(parents=True)
    with pytest.raises(ModelNotFoundError, match="model file not found: models/smol/typo.gguf") as info:
        resolve_model("models/smol/typo.gguf")  # its folder is here: a local path, whatever its shape
    assert "pull" not in str(info.value)
    with pytest.raises(ModelNotFoundError, match="neither a local file nor a downloaded hub model") as info:
        resolve_model("nowhere/repo/model.gguf")
    assert "edge-drift models pull nowhere/repo/model.gguf" in str(info.value)


def test_gpu_layers_default_to_the_build_and_can_be_set(monkeypatch):
    import llama_cpp

    from edge_drift.engine import GPU_LAYERS_ENV, gpu_layers
    from edge_drift.errors import ModelLoadError

    monkeypatch.delenv(GPU_LAYERS_ENV, raising=False)
    assert gpu_layers() == (-1 if llama_cpp.llama_supports_gpu_offload() else 0)
    assert gpu_layers(5) == 5
    monkeypatch.setenv(GPU_LAYERS_ENV, "12")
    assert gpu_layers() == 12 and gpu_layers(0) == 0  # an explicit request wins over the environment
    monkeypatch.setenv(GPU_LAYERS_ENV, "all")
    with pytest.raises(ModelLoadError, match="is not a number"):
        gpu_layers()
