"""`edge-drift demo`: fit an example user's profile, then answer one question plain and steered."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"  # in the package; profiles/examples links here
DEMO_USER = "terse_tim"
# A readable subset keeps the demo near a minute on 2 cores; `profile fit` uses all 48 by default.
DEMO_ATTRIBUTES = ["concise", "direct", "analytic", "engineer", "code", "storyteller", "creative", "vivid",
                   "empathetic", "emotion", "humor", "formal"]
DEMO_QUESTION = "How do I make my laptop battery last longer?"


def run_demo(model: str, profiles_dir: str | None, echo: Callable[[str], None],
             progress_factory=None, max_tokens: int = 80, seed: int = 7) -> None:
    from .assistant import Assistant
    from .attributes import load_attribute_set
    from .decoding import SamplingSettings
    from .pairs import read_pairs
    from .weights_chart import weight_bars

    pairs = read_pairs(EXAMPLES / f"{DEMO_USER}.pairs.jsonl").pairs
    with Assistant(model, profiles_dir=profiles_dir) as assistant:
        engine = assistant.llm
        echo(f"model: {engine.path.name} ({engine.identity.size_bytes / 1e6:.0f} MB, {engine.n_threads} threads)")
        echo(f"1. fitting {DEMO_USER} from {len(pairs)} A/B pairs (prefers terse, technical answers) "
             f"over {len(DEMO_ATTRIBUTES)} attributes")
        report = assistant.fit(DEMO_USER, pairs, attributes=load_attribute_set().select(DEMO_ATTRIBUTES),
                               top_k_attributes=3, progress_factory=progress_factory)
        stats = report.stats
        echo(f"   wrote {report.path} in {stats.seconds:.1f}s (cached pairs cost nothing on a rerun); "
             f"cv accuracy {report.profile.cv_accuracy}")
        for line in weight_bars(report.profile):
            echo("   " + line)

        echo(f"\n2. the same question, plain and steered (beta {report.profile.beta}, top 3 attributes):")
        echo(f"   Q: {DEMO_QUESTION}")
        settings = SamplingSettings(max_tokens=max_tokens, seed=seed)  # the library's sampling defaults
        for strategy in ("plain", "drift"):
            text, event = assistant.generate([{"role": "user", "content": DEMO_QUESTION}], user=DEMO_USER,
                                             strategy=strategy, settings=settings)
            echo(f"\n   [{strategy}] ({event.n_tokens} tokens, {event.tokens_per_s:.1f} tokens/s)")
            echo("   " + text.strip().replace("\n", "\n   "))
        echo(f"\nnext: `edge-drift chat --user {DEMO_USER}` (type /ab to teach it), "
             f"`edge-drift profile show {DEMO_USER}`, `edge-drift serve` (OpenAI-compatible server)")
