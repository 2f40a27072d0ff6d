"""edge-drift: offline decoding-time personalization of local GGUF chat models."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import EdgeDriftError  # noqa: E402  (light: no llama_cpp import here)

__all__ = ["EdgeDriftError", "__version__"]
