"""The exceptions edge-drift raises; the CLI turns each into a one-line message."""
from __future__ import annotations


class EdgeDriftError(Exception):
    """Base class: a user-facing problem whose message says what is wrong and how to fix it."""


class ModelNotFoundError(EdgeDriftError):
    """A --model/--slm reference that does not resolve to a readable GGUF file."""


class ModelLoadError(EdgeDriftError):
    """A file that exists but llama.cpp cannot load (corrupt or not a GGUF)."""


class ContextOverflowError(EdgeDriftError):
    """A sequence would grow past the positions its context gives it."""


class PairsError(EdgeDriftError):
    """A preference-pairs file with invalid lines."""


class ProfileError(EdgeDriftError):
    """A profile that is missing, invalid, or made for another model."""


class ProfileNotFoundError(ProfileError):
    """No profile exists for this user (the server answers 404)."""


class TokenizerMismatchError(EdgeDriftError):
    """Two models that must share a tokenizer do not."""
