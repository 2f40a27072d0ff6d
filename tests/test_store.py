"""The profiles folder: one folder per user, migration from the flat layout, real processes racing and crashing."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_drift.attributes import load_attribute_set
from edge_drift.cli import main
from edge_drift.pairs import Pair
from edge_drift.fitting import fit_profile
from edge_drift.store import ProfileStore
from edge_drift.rewards import LogProbCache
from helpers import make_profile

PAIRS = [Pair(f"Question {i} about tea?", f"Short answer {i}.", f"A long, winding and flowery answer number {i}.")
         for i in range(12)]
EXAMPLES = Path(__file__).resolve().parent.parent / "profiles" / "examples"


def write_pairs(path: Path, pairs) -> Path:
    path.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pairs))
    return path


def save(store: ProfileStore, engine, user: str, pairs) -> None:
    profile = make_profile(engine, {"concise": 1.0}, user)
    profile.n_pairs = len(pairs)
    store.save(profile, pairs, LogProbCache("x" * 64, 32, {f"{user}-entry": 1.0}))


def test_users_whose_names_differ_by_a_suffix_share_no_file(engine, tmp_path):
    store = ProfileStore(tmp_path)
    with store.lock("bob"):
        save(store, engine, "bob", PAIRS[:2])
    with store.lock("bob.rewards"):
        save(store, engine, "bob.rewards", PAIRS[:3])
    assert store.list() == ["bob", "bob.rewards"]
    assert store.load("bob").n_pairs == 2 and len(store.load_pairs("bob")) == 2
    assert store.load("bob.rewards").n_pairs == 3 and len(store.load_pairs("bob.rewards")) == 3
    assert set(store.load_cache("bob", "x" * 64, 32, 1.0).entries) == {"bob-entry"}
    assert not set(store.user_files("bob")) & set(store.user_files("bob.rewards"))


def test_the_flat_layout_moves_into_folders_by_content(engine, tmp_path):
    profile = make_profile(engine, {"concise": 1.0}, "bob").to_dict()
    (tmp_path / "bob.json").write_text(json.dumps(profile))
    write_pairs(tmp_path / "bob.pairs.jsonl", PAIRS[:1])
    (tmp_path / "bob.rewards.json").write_text(json.dumps(LogProbCache("y" * 64, 32, {"k": 2.0}).to_dict()))
    (tmp_path / ".bob.lock").write_text("")
    (tmp_path / "profile.schema.json").write_text("{}")  # not a profile: stays where it is
    store = ProfileStore(tmp_path)
    assert store.list() == ["bob"] and store.load("bob").user == "bob"
    assert [p.prompt for p in store.load_pairs("bob")] == [PAIRS[0].prompt]
    assert store.load_cache("bob", "y" * 64, 32, 1.0).entries == {"k": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", "bob", "profile.schema.json"]


def test_profile_rm_and_export_cover_every_file(engine, tmp_path):
    folder = tmp_path / "p"
    store = ProfileStore(folder)
    with store.lock("ann"):
        save(store, engine, "ann", PAIRS[:2])
    store.record_vote("ann", {"id": "vote-1", "winner": "tie"})
    exported = CliRunner().invoke(main, ["profile", "export", "ann", "--profiles-dir", str(folder)])
    data = json.loads(exported.output)
    assert data["profile"]["user"] == "ann" and [p["prompt"] for p in data["pairs"]] == [p.prompt for p in PAIRS[:2]]
    lines = CliRunner().invoke(main, ["profile", "export", "ann", "--profiles-dir", str(folder), "--format", "jsonl"])
    assert [json.loads(line)["chosen"] for line in lines.output.splitlines()] == [p.chosen for p in PAIRS[:2]]
    shown = CliRunner().invoke(main, ["data", "--profiles-dir", str(folder), "--json"])
    report = json.loads(shown.output)
    assert report["users"][0]["user"] == "ann" and report["users"][0]["files"] == 4  # profile, pairs, cache, votes
    removed = CliRunner().invoke(main, ["profile", "rm", "ann", "--profiles-dir", str(folder)])
    assert removed.exit_code == 0 and "4 file(s)" in removed.output
    assert not any("ann" in str(p.relative_to(folder)) for p in folder.rglob("*"))  # lock file included


def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from edge_drift.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.real  # loads the embedded model through the CLI or a server
def test_four_processes_adding_at_once_lose_no_pair(tmp_path):
    folder = str(tmp_path / "p")
    first = cli("profile", "fit", "u", "--pairs", str(write_pairs(tmp_path / "0.jsonl", PAIRS[:1])),
                "--profiles-dir", folder, "--attributes", "concise")
    assert first.wait(300) == 0, first.stderr.read()
    adders = [cli("profile", "add", "u", "--pairs", str(write_pairs(tmp_path / f"{i}.jsonl", [PAIRS[i]])),
                  "--profiles-dir", folder) for i in range(1, 5)]
    for adder in adders:
        assert adder.wait(300) == 0, adder.stderr.read()
    store = ProfileStore(folder)
    assert sorted(p.prompt for p in store.load_pairs("u")) == sorted(p.prompt for p in PAIRS[:5])
    assert store.load("u").n_pairs == 5


def consistent(store: ProfileStore, user: str) -> int:
    """Profile, pairs and cache load, and the profile counts exactly the pairs it names."""
    profile = store.load(user)
    assert profile.n_pairs == len(store.load_pairs(user))
    assert store.load_cache(user, profile.slm["sha256"], profile.max_response_tokens, profile.position_decay) is not None
    return profile.n_pairs


def test_kill_9_at_any_moment_of_a_fit_leaves_a_consistent_profile(engine, tmp_path):
    store = ProfileStore(tmp_path / "p")
    attributes = load_attribute_set().select(["concise"])
    fit_profile(engine, store, "k", PAIRS[:2], attributes=attributes)
    pairs = write_pairs(tmp_path / "all.jsonl", PAIRS)
    start = time.monotonic()
    full = cli("profile", "add", "k", "--pairs", str(pairs), "--profiles-dir", str(store.root))
    assert full.wait(600) == 0, full.stderr.read()
    duration = time.monotonic() - start
    assert consistent(store, "k") == 12
    for fraction in (0.2, 0.5, 0.8, 0.95, 0.99):  # model loading, scoring, and around the final writes
        store.remove("k")
        fit_profile(engine, store, "k", PAIRS[:2], attributes=attributes)
        victim = cli("profile", "add", "k", "--pairs", str(pairs), "--profiles-dir", str(store.root))
        time.sleep(duration * fraction)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert consistent(store, "k") in (2, 12), fraction
        again = cli("profile", "add", "k", "--pairs", str(pairs), "--profiles-dir", str(store.root))
        assert again.wait(600) == 0, again.stderr.read()  # and the next run finishes the job
        assert consistent(store, "k") == 12
