"""edge-drift: offline decoding-time personalization of local GGUF chat models."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import EdgeDriftError  # noqa: E402  (light: no llama_cpp import here)

# The public API, imported on first use so that `import edge_drift` (and `edge-drift --help`) stays light.
_LAZY = {"Assistant": "assistant", "SamplingSettings": "decoding", "Pair": "pairs", "read_pairs": "pairs",
         "load_attribute_set": "attributes"}

__all__ = ["EdgeDriftError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'edge_drift' has no attribute {name!r}")
