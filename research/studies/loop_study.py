"""The whole loop, simulated with generated answers: 20 compare rounds from an empty profile, three ways to ask.

A simulated user per DSP domain (the TF-IDF judge `eval generate` uses, trained on that user's DSP pairs whose
prompts it will not judge) votes on rounds run through the product (`Assistant`: `question`, `generate`,
`feedback`), each to a training prompt, at the compare view's settings (80 tokens, temperature 0.8):
- informative: the question the product asks (BALD), answers leaning + and - on its attribute (today's default);
- steered vs plain: the profile's drift answer against plain (the round before; plain vs plain until a vote);
- random DSP pairs: the user's own domain answer vs another domain's to the same prompt (the pool studies'
  random picking; the vote is the user's, as in the data).
The judge prefers the answer it scores higher; equal scores cast no vote. After 10 and 20 rounds the profile
is kept: its ranking accuracy on the held-out queries' DSP pairs (the committed scores, as the pool studies)
and drift's win rate over plain on held-out prompts (64 tokens, as `eval generate`), judged by the TF-IDF
judge and by the MiniLM one.

`run-reward` asks the same rounds of a different simulated user, one whose taste is a profile: the weights
that all 450 of the domain's training pairs fit (`RewardUser`, the best profile the product can learn from
votes); it votes by scoring both answers with the sLM on its attributes. Whether a round asks well is then
measured where the user's preferences are ones a profile can hold (10 rounds, ranking only: no win rates).

Usage: `run` plays every round (71 minutes on 2 cores; it resumes, skipping what OUT already has) and prints the
table; `table` prints it from OUT's answers (6 minutes: the judges are trained again); `run-reward` (28
minutes) plays 10 rounds with the reward user and prints its table.
  PYTHONPATH=.:research .venv/bin/python research/studies/loop_study.py run DSP_DEV.json OUT.json.gz [USER ...]
  PYTHONPATH=.:research .venv/bin/python research/studies/loop_study.py table DSP_DEV.json OUT.json.gz
  PYTHONPATH=.:research .venv/bin/python research/studies/loop_study.py run-reward DSP_DEV.json OUT.json.gz
`diagnose DSP_DEV.json OUT.json.gz` (7 minutes) reads `run`'s rounds: whether the informative answers differ on
the asked attribute (sLM rewards), and how often the TF-IDF and MiniLM judges of a user agree on the rounds' pairs.
"""
from __future__ import annotations

import gzip
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import N_TEST_QUERIES, answer_rewards, user_pairs
from edge_drift.assistant import Assistant
from edge_drift.attributes import load_attribute_set
from edge_drift.decoding import COMPARE_MAX_TOKENS, VARIED_TEMPERATURE, SamplingSettings
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp
from edge_drift.fitting import replayed_weights
from edge_drift.judging import EmbeddingJudge, TfidfJudge, judge_training_pairs, wilson_interval
from edge_drift.pairs import Pair
from edge_drift.rewards import DEFAULT_MAX_RESPONSE_TOKENS, LogProbCache, compute_rewards
from edge_drift.solvers import pairwise_accuracy

CONDITIONS = ("informative", "steered vs plain", "random DSP pairs")
CHECKPOINTS = (10, 20)
SEED = 0
N_SCORED = 200  # the queries with committed scores: rounds ask the training ones, ranking tests the others
WIN_PROMPTS = range(200, 220)  # held out from everything but the win rates (queries past the scored ones)
WIN_SETTINGS = SamplingSettings(max_tokens=64, seed=1)  # eval generate's defaults


def split(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(test queries, round queries in the order asked) among the scored 200, as the pool studies split them."""
    order = np.random.default_rng(seed).permutation(N_SCORED)
    return order[:N_TEST_QUERIES], order[N_TEST_QUERIES:]


def simulated_user(pairs: list[Pair], judged: list[str], kind=TfidfJudge):
    """The user's judge: trained on their pairs, never on a prompt whose answers it will judge."""
    return kind(judge_training_pairs(pairs, judged))


class RewardUser:
    """A simulated user whose taste is a profile: `weights` over the attribute rewards (raw, as a profile's); it
    prefers the answer with the larger weighted reward, scored by the sLM at the product's cut-off."""

    def __init__(self, engine, weights: np.ndarray):
        kept, every = np.flatnonzero(weights), load_attribute_set()
        self.engine, self.weights = engine, weights[kept]
        self.attributes = every.select([every.names[i] for i in kept])
        self.cache = LogProbCache(engine.scoring_key, DEFAULT_MAX_RESPONSE_TOKENS)

    def margins(self, prompts, answers, others) -> np.ndarray:
        pairs = [Pair(prompt=p, chosen=a, rejected=o) for p, a, o in zip(prompts, answers, others)]
        chosen, rejected, _ = compute_rewards(self.engine, pairs, self.attributes, self.cache)
        return (chosen - rejected) @ self.weights


def reward_user_weights(R: np.ndarray, user: str) -> np.ndarray:
    """What the product fits from all of the user's training pairs (the queries the rounds ask)."""
    _, asked = split()
    return replayed_weights(user_pairs(R, DSP_DOMAINS.index(user), asked))


def ranking_accuracy(R: np.ndarray, user: str, test: np.ndarray, weights: dict[str, float]) -> float:
    """A checkpoint's profile on the held-out queries' DSP pairs (the committed scores); no profile ranks at 0.5."""
    if not weights:
        return 0.5
    w = np.array([weights.get(name, 0.0) for name in load_attribute_set().names])
    return pairwise_accuracy(user_pairs(R, DSP_DOMAINS.index(user), test), w)


def vote(judge, prompt: str, first: str, second: str) -> Pair | None:
    """The simulated user's choice between two answers, as a pair (None: it cannot tell them apart)."""
    margin = 0.0 if first == second else float(judge.margins([prompt], [first], [second])[0])
    if margin == 0:
        return None
    chosen, rejected = (first, second) if margin > 0 else (second, first)
    return Pair(prompt=prompt, chosen=chosen, rejected=rejected)


def play(assistant: Assistant, condition: str, name: str, prompt: str, own: Pair, judge, number: int,
         label_votes: bool = True) -> dict:
    """One compare round: the two answers, what was asked, and the pair the vote taught (if any). DSP pairs are
    voted as in the data unless `label_votes` is off (then the simulated user votes on them too)."""
    if condition == "random DSP pairs":
        asked, answers = None, [own.chosen, own.rejected]
        pair = own if label_votes else vote(judge, prompt, *answers)
    else:
        asked = assistant.question(name, np.random.default_rng(number)).attribute if condition == "informative" else None
        sides = ([{"strategy": "drift", "lean": f"{sign}{asked}"} for sign in "+-"] if asked else
                 [{"strategy": "drift", "fallback_to_plain": True}, {"strategy": "plain"}])
        messages = [{"role": "user", "content": prompt}]
        answers = [assistant.generate(messages, user=name, settings=SamplingSettings(
            max_tokens=COMPARE_MAX_TOKENS, temperature=VARIED_TEMPERATURE, seed=2 * number + side), **options)[0]
            for side, options in enumerate(sides)]
        pair = vote(judge, prompt, *answers)
    if pair is not None:
        assistant.feedback(name, pair)
    return {"prompt": prompt, "asked": asked, "answers": answers,
            "chose": None if pair is None else answers.index(pair.chosen)}


def weights_of(profile) -> dict[str, float]:
    return {a.name: a.weight for a in profile.attributes if a.weight}


def run_condition(assistant: Assistant, user: str, condition: str, queries, judge, win_prompts: list[str],
                  checkpoints_at: tuple[int, ...] = CHECKPOINTS, label_votes: bool = True) -> dict:
    """Rounds from an empty profile; at each checkpoint the profile's weights and its drift answers (if any
    win-rate prompts)."""
    name = f"{user}_{condition.split()[0]}"
    _, asked = split()
    own = dsp_pairs(queries, user, seed=0)
    rounds, checkpoints = [], {}
    for number, q in enumerate(asked[:max(checkpoints_at)], 1):
        began = time.perf_counter()
        rounds.append(play(assistant, condition, name, queries[q].prompt, own[q], judge, number, label_votes))
        print(f"{user} / {condition}: round {number}, {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        if number in checkpoints_at:
            profile = assistant.profile(name)
            if profile is None:  # no vote yet
                checkpoints[str(number)] = {"votes": 0, "weights": {}, "selected": [], "answers": []}
                continue
            kept = replace(profile, user=f"{name}_{number}")
            assistant.pin(kept)
            answers = [assistant.generate([{"role": "user", "content": p}], user=kept.user, strategy="drift",
                                          settings=WIN_SETTINGS)[0] for p in win_prompts]
            assistant.forget(kept.user)
            checkpoints[str(number)] = {"votes": profile.n_pairs, "weights": weights_of(profile),
                                        "selected": [a.name for a in profile.selected], "answers": answers}
    return {"rounds": rounds, "checkpoints": checkpoints}


def load(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes())) if path.exists() else {}


def save(path: Path, results: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(gzip.compress(json.dumps(results).encode()))
    partial.replace(path)


def run(data: str, out: Path, users: list[str]) -> None:
    queries = load_dsp(data)
    win_prompts = [queries[i].prompt for i in WIN_PROMPTS]
    results = load(out)
    results.setdefault("settings", {"seed": SEED, "rounds": max(CHECKPOINTS), "compare_max_tokens": COMPARE_MAX_TOKENS,
                                    "win_prompts": list(WIN_PROMPTS), "win_max_tokens": WIN_SETTINGS.max_tokens})
    with tempfile.TemporaryDirectory() as folder, Assistant("default", profiles_dir=folder) as assistant:
        for user in users:
            judge = simulated_user(dsp_pairs(queries, user, seed=0), win_prompts)
            entry = results.setdefault("users", {}).setdefault(user, {})
            if "plain" not in entry:
                entry["plain"] = [assistant.generate([{"role": "user", "content": p}], strategy="plain",
                                                     settings=WIN_SETTINGS)[0] for p in win_prompts]
                save(out, results)
            for condition in CONDITIONS:
                if condition not in entry.setdefault("conditions", {}):
                    entry["conditions"][condition] = run_condition(assistant, user, condition, queries, judge,
                                                                   win_prompts)
                    save(out, results)


REWARD_CHECKPOINTS = (5, 10)


def run_reward(data: str, out: Path) -> None:
    """Every condition, 10 rounds, the reward user voting (DSP pairs too); then its table."""
    queries, R = load_dsp(data), answer_rewards(data)
    results = load(out)
    results.setdefault("settings", {"seed": SEED, "user": "reward", "rounds": max(REWARD_CHECKPOINTS),
                                    "compare_max_tokens": COMPARE_MAX_TOKENS})
    with tempfile.TemporaryDirectory() as folder, Assistant("default", profiles_dir=folder) as assistant:
        for user in DSP_DOMAINS:
            judge = RewardUser(assistant.slm, reward_user_weights(R, user))
            entry = results.setdefault("users", {}).setdefault(user, {"conditions": {}})
            for condition in CONDITIONS:
                if condition not in entry["conditions"]:
                    entry["conditions"][condition] = run_condition(assistant, user, condition, queries, judge, [],
                                                                   REWARD_CHECKPOINTS, label_votes=False)
                    save(out, results)
    reward_table(data, out)


def reward_table(data: str, out: Path) -> None:
    results, R = load(out), answer_rewards(data)
    test, _ = split(results["settings"]["seed"])
    users = list(results["users"])
    print("| rounds asked | after | votes | ranking accuracy, mean (per user) |\n|---|---|---|---|")
    for condition in CONDITIONS:
        for n in map(str, REWARD_CHECKPOINTS):
            points = [results["users"][u]["conditions"][condition]["checkpoints"][n] for u in users]
            accuracy = [ranking_accuracy(R, u, test, p["weights"]) for u, p in zip(users, points)]
            print(f"| {condition} | {n} rounds | {np.mean([p['votes'] for p in points]):.1f} | {np.mean(accuracy):.3f} "
                  f"({', '.join(f'{a:.2f}' for a in accuracy)}) |")
    own = [pairwise_accuracy(user_pairs(R, DSP_DOMAINS.index(u), test), reward_user_weights(R, u)) for u in users]
    print(f"| the reward user's own weights | 450 pairs | | {np.mean(own):.3f} ({', '.join(f'{a:.2f}' for a in own)}) |")


def table(data: str, out: Path) -> None:
    """Ranking accuracy (mean of the users) and pooled win rates over plain, per condition and checkpoint."""
    results = load(out)
    queries = load_dsp(data)
    win_prompts = [queries[i].prompt for i in results["settings"]["win_prompts"]]
    R = answer_rewards(data)
    test, _ = split(results["settings"]["seed"])
    users = [u for u in DSP_DOMAINS if u in results.get("users", {})]
    judges = {u: {kind.kind: simulated_user(dsp_pairs(queries, u, seed=0), win_prompts, kind)
                  for kind in (TfidfJudge, EmbeddingJudge)} for u in users}
    print(f"users: {', '.join(users)}; {len(win_prompts)} win-rate prompts each\n")
    print("| rounds asked | after | votes | ranking accuracy | win rate over plain (TF-IDF) | (MiniLM) |")
    print("|---|---|---|---|---|---|")
    for condition in CONDITIONS:
        for n in map(str, CHECKPOINTS):
            done = [u for u in users if n in results["users"][u].get("conditions", {}).get(condition, {})
                    .get("checkpoints", {})]
            if not done:
                continue
            accuracy, votes, wins = [], [], {kind: [0.0, 0] for kind in judges[done[0]]}
            for u in done:
                point = results["users"][u]["conditions"][condition]["checkpoints"][n]
                accuracy.append(ranking_accuracy(R, u, test, point["weights"]))
                votes.append(point["votes"])
                for kind, judge in judges[u].items():
                    margin = judge.scores(point["answers"]) - judge.scores(results["users"][u]["plain"])
                    wins[kind][0] += float(np.sum(margin > 0) + 0.5 * np.sum(margin == 0))
                    wins[kind][1] += len(margin)
            rates = [f"{w / m:.2f} [{wilson_interval(w, m)[0]:.2f}, {wilson_interval(w, m)[1]:.2f}]"
                     for w, m in wins.values()]
            print(f"| {condition} | {n} rounds | {np.mean(votes):.1f} | {np.mean(accuracy):.3f} "
                  f"({', '.join(f'{a:.2f}' for a in accuracy)}) | " + " | ".join(rates) + " |")


def diagnose(data: str, out: Path) -> None:
    """Do informative answers differ on what was asked, and do two judges of one user agree on generated pairs?"""
    results = load(out)
    queries = load_dsp(data)
    win_prompts = [queries[i].prompt for i in results["settings"]["win_prompts"]]
    attributes, rng = load_attribute_set(), np.random.default_rng(0)
    differences, agree, judged = [], {}, set(win_prompts)
    with Assistant("default") as assistant:
        cache = LogProbCache(assistant.slm.scoring_key, DEFAULT_MAX_RESPONSE_TOKENS)
        for user, entry in results["users"].items():
            for x in entry["conditions"]["informative"]["rounds"]:
                if x["answers"][0] != x["answers"][1]:  # leaning + first, then an attribute drawn at random
                    other = str(rng.choice([n for n in attributes.names if n != x["asked"]]))
                    pair = Pair(prompt=x["prompt"], chosen=x["answers"][0], rejected=x["answers"][1])
                    chosen, rejected, _ = compute_rewards(assistant.slm, [pair], attributes.select([x["asked"], other]),
                                                          cache)
                    differences.append((chosen - rejected)[0])
    d = np.array(differences)
    print(f"informative rounds: the + answer scores higher on the asked attribute in {np.mean(d[:, 0] > 0):.0%} of "
          f"{len(d)}; mean |difference| {np.abs(d[:, 0]).mean():.1f} on it, {np.abs(d[:, 1]).mean():.1f} on another")
    for user, entry in results["users"].items():
        pairs = dsp_pairs(queries, user, seed=0)
        tfidf, minilm = (simulated_user(pairs, win_prompts, kind) for kind in (TfidfJudge, EmbeddingJudge))
        held = [p for p in pairs if p.prompt in judged]
        sets = {"held-out DSP pairs": [(p.chosen, p.rejected) for p in held]}
        for condition in ("informative", "steered vs plain"):
            sets[condition] = [tuple(x["answers"]) for x in entry["conditions"][condition]["rounds"]
                               if x["answers"][0] != x["answers"][1]]
        for label, answers in sets.items():
            first, second = [a for a, _ in answers], [b for _, b in answers]
            same = np.sign(tfidf.scores(first) - tfidf.scores(second)) == np.sign(minilm.scores(first) - minilm.scores(second))
            agree.setdefault(label, []).extend(same)
    for label, same in agree.items():
        print(f"{label}: the TF-IDF and MiniLM judges agree on {np.mean(same):.0%} of {len(same)}")


def main() -> None:
    command, data, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    if command == "run":
        run(data, out, sys.argv[4:] or list(DSP_DOMAINS))
        table(data, out)
    elif command == "table":
        table(data, out)
    elif command == "run-reward":
        run_reward(data, out)
    elif command == "diagnose":
        diagnose(data, out)
    else:
        sys.exit(f"unknown command {command!r}; use run, table, run-reward or diagnose")


if __name__ == "__main__":
    main()
