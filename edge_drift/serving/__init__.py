"""`edge-drift serve`: an OpenAI-compatible local server over the Assistant (one worker owns the models)."""
