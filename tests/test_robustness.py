"""Whatever bytes sit in a user's files, edge-drift answers with a result or its own one-line error."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_drift.cli import main
from edge_drift.errors import EdgeDriftError
from edge_drift.pairs import read_pairs
from edge_drift.store import ProfileStore
from edge_drift.rewards import LogProbCache

GOOD = {"prompt": "Q?", "chosen": "Short.", "rejected": "A long, winding answer."}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)
# Byte soup, JSON-ish lines, and objects that look like pairs with some fields of the wrong kind.
pair_like = st.fixed_dictionaries({}, optional={"prompt": json_values | st.text(), "chosen": json_values | st.text(),
                                                "rejected": json_values | st.text(), "messages": json_values,
                                                "system": json_values})
file_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(pair_like.map(json.dumps), st.text(max_size=40), st.just(json.dumps(GOOD))),
             max_size=5).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
)


@SETTINGS
@given(content=file_bytes)
def test_any_pairs_file_reads_or_fails_with_a_pairs_error(tmp_path, content):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    try:
        parsed = read_pairs(path)
    except EdgeDriftError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert parsed.pairs and all(p.chosen.strip() != p.rejected.strip() for p in parsed.pairs)


def valid_profile(user: str) -> dict:
    return {"schema_version": 1, "user": user, "slm": {"file_name": "m.gguf", "sha256": "0" * 64},
            "base_prompt": "You are an AI assistant.", "solver": "drift", "n_pairs": 2, "cv_accuracy": None,
            "top_k": 1, "beta": 0.5, "max_response_tokens": 32, "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00", "preference_text": None, "selected_attributes": ["concise"],
            "attributes": [{"name": "concise", "prompt": "You are a concise AI assistant.", "weight": 1.0,
                            "unit_preference": 0.5, "selected": True}]}


def mutated_profiles():
    """A valid profile with one field replaced by any JSON value, or bytes that are not one at all."""
    fields = list(valid_profile("u"))
    return st.one_of(
        st.binary(max_size=200),
        st.tuples(st.sampled_from(fields), json_values).map(
            lambda change: json.dumps({**valid_profile("u"), change[0]: change[1]}).encode()),
        st.tuples(st.sampled_from(["name", "prompt", "weight", "unit_preference", "selected"]), json_values).map(
            lambda change: json.dumps({**valid_profile("u"), "attributes": [
                {**valid_profile("u")["attributes"][0], change[0]: change[1]}]}).encode()),
    )


@SETTINGS
@given(content=mutated_profiles())
def test_any_profile_file_loads_or_fails_with_a_profile_error(tmp_path, content):
    store = ProfileStore(tmp_path)
    store.folder("u").mkdir(exist_ok=True)
    store.path("u").write_bytes(content)
    try:
        profile = store.load("u")
    except EdgeDriftError as exc:
        assert "\n" not in str(exc)
    else:
        assert profile.user == "u" and all(isinstance(a.weight, float) for a in profile.attributes)


@SETTINGS
@given(content=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                         st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
                             lambda e: json.dumps({"version": 1, "slm_sha256": "x", "max_response_tokens": 32,
                                                   "entries": e}).encode())))
def test_a_damaged_rewards_cache_costs_recomputation_never_an_error(tmp_path, content):
    store = ProfileStore(tmp_path)
    store.folder("u").mkdir(exist_ok=True)
    store.rewards_path("u").write_bytes(content)
    cache = store.load_cache("u", "x", 32, 1.0)
    assert isinstance(cache, LogProbCache) and all(isinstance(v, float) for v in cache.entries.values())


def test_a_corrupt_pairs_sidecar_is_named_not_mistaken(tmp_path):
    store = ProfileStore(tmp_path)
    store.folder("u").mkdir()
    store.pairs_path("u").write_text(json.dumps(GOOD) + "\n{half a line")
    with pytest.raises(EdgeDriftError, match=r"u's saved pairs are damaged .*line 2: not JSON"):
        store.load_pairs("u")
    store.pairs_path("u").write_bytes(b"\xff\xfe")
    with pytest.raises(EdgeDriftError, match="not UTF-8"):
        store.load_pairs("u")


def test_a_damaged_sha256_memo_is_recomputed(tmp_path, monkeypatch):
    from edge_drift.engine import file_sha256
    from edge_drift.models import resolve_model
    from edge_drift.paths import hashes_dir

    model = resolve_model("default")
    first = file_sha256(model)
    memos = list(hashes_dir().glob("*.json"))
    assert len(memos) == 1
    for damage in (b"", b"{\"sha256\": 5}", b"\x00\xff"):
        memos[0].write_bytes(damage)
        assert file_sha256(model) == first
        assert json.loads(memos[0].read_text())["sha256"] == first  # and the memo is whole again


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def nobody_env(base, env: dict) -> dict:
    """An environment in which `nobody` can import edge_drift, or a skip that says why it cannot.

    A clone in a private folder (a home directory with mode 0700/0750, a `mktemp -d`) is unreadable to
    `nobody`: then the package is copied into `base` (readable) and put first on PYTHONPATH. If this Python
    itself is unreadable to `nobody` (its virtualenv is inside that folder), the test cannot run as another user."""
    import shutil
    import subprocess
    import sys

    import edge_drift

    def can_import(env: dict) -> bool:
        probe = subprocess.run([*AS_NOBODY, sys.executable, "-c", "import edge_drift.cli"], capture_output=True,
                               env=env)
        return probe.returncode == 0

    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is missing")
    if can_import(env):
        return env
    copy = base / "src"
    shutil.copytree(Path(edge_drift.__file__).parent, copy / "edge_drift")
    env = {**env, "PYTHONPATH": str(copy)}
    if not can_import(env):
        pytest.skip(f"user nobody cannot run {sys.executable} (the checkout sits in a folder only its owner can read)")
    return env


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_an_unwritable_profiles_folder_is_one_line(tmp_path):
    """Root may write anywhere, so the command runs as `nobody` (setpriv) against a folder it cannot write."""
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="edge-drift-perm-"))  # pytest's own tmp folders are root-only
    request_cleanup = lambda: shutil.rmtree(base, ignore_errors=True)  # noqa: E731
    base.chmod(0o755)
    folder = base / "locked"
    folder.mkdir(mode=0o555)
    folder.chmod(0o555)
    pairs = base / "pairs.jsonl"
    pairs.write_text(json.dumps(GOOD) + "\n")
    pairs.chmod(0o644)
    code = ("import sys; from edge_drift.cli import main; "
            f"sys.argv = ['edge-drift', 'profile', 'fit', 'u', '--pairs', {str(pairs)!r}, '--profiles-dir', "
            f"{str(folder)!r}, '--attributes', 'concise']; main()")
    try:
        env = nobody_env(base, {**os.environ, "HOME": str(base), "EDGE_DRIFT_CACHE": str(base / "cache")})
        result = subprocess.run([*AS_NOBODY, sys.executable, "-c", code], capture_output=True, text=True, env=env)
    finally:
        request_cleanup()
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Permission denied" in result.stderr and str(folder) in result.stderr


def test_profile_rm_twice_and_show_of_damaged_files_are_one_line(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "u").mkdir()
    (folder / "u" / "profile.json").write_bytes(b"\xff\x00")
    result = CliRunner().invoke(main, ["profile", "show", "u", "--profiles-dir", str(folder)])
    assert result.exit_code == 1 and "not UTF-8" in result.output and result.output.count("\n") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_an_unreadable_model_file_is_one_line():
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="edge-drift-perm-"))
    try:
        base.chmod(0o755)
        model = base / "secret.gguf"
        model.write_bytes(b"GGUF" + b"\0" * 60)
        model.chmod(0o000)
        code = f"import sys; from edge_drift.cli import main; sys.argv = ['edge-drift', 'generate', '--model', " \
               f"{str(model)!r}, '--no-steer', 'Hi']; main()"
        env = nobody_env(base, {**os.environ, "HOME": str(base), "EDGE_DRIFT_HOME": str(base / "home")})
        result = subprocess.run([*AS_NOBODY, sys.executable, "-c", code], capture_output=True, text=True, env=env)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"cannot read {model}: permission denied" in result.stderr


def test_a_pairs_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).replace("Short.", "Caf\u00e9.").encode("latin-1"))
    with pytest.raises(EdgeDriftError, match=r"latin1.jsonl is not UTF-8 text \(byte \d+\); save it as UTF-8"):
        read_pairs(path)


def test_the_user_name_is_checked_before_any_model_is_loaded():
    result = CliRunner().invoke(main, ["generate", "--user", "../x", "--model", "/no/such/model.gguf", "Hi"])
    assert result.exit_code == 1 and "invalid user name '../x'" in result.output  # not a model error
    result = CliRunner().invoke(main, ["profile", "fit", "../x", "--pairs", "/no/such.jsonl", "--model", "/nope.gguf"])
    assert result.exit_code == 1 and "invalid user name '../x'" in result.output


def test_a_corrupt_pairs_file_in_chat_ab_is_reported_as_such(engine, tmp_path):
    from edge_drift.store import ProfileStore
    from helpers import make_profile

    store = ProfileStore(tmp_path)
    profile = make_profile(engine, {"concise": 1.0}, "dee")
    store.path("dee").parent.mkdir(parents=True)
    store.path("dee").write_text(json.dumps(profile.to_dict()))
    store.pairs_path("dee").write_text("{broken\n")
    keys = "Give me one tip.\n/ab\na\n/quit\n"
    result = CliRunner().invoke(main, ["chat", "--user", "dee", "--profiles-dir", str(tmp_path), "--max-tokens", "6",
                                       "--temperature", "0"], input=keys)
    assert "dee's saved pairs are damaged" in result.output and "needs a number" not in result.output


def test_a_waiting_writer_never_shares_the_lock_with_a_newcomer_after_rm(tmp_path):
    """rm unlinks the lock file while holding it; the writer that waited must not lock the orphan."""
    import threading
    import time

    from edge_drift.store import exclusive_lock

    path = tmp_path / ".locks" / "u.lock"
    inside, overlaps = [], []

    def writer(name: str, delay: float) -> None:
        time.sleep(delay)
        with exclusive_lock(path):
            if inside:
                overlaps.append((name, list(inside)))
            inside.append(name)
            time.sleep(0.3)
            inside.remove(name)

    def remover() -> None:
        with exclusive_lock(path):
            inside.append("rm")
            time.sleep(0.3)  # the waiting writer queues on this file...
            path.unlink()     # ...which rm deletes while it still holds it
            inside.remove("rm")

    threads = [threading.Thread(target=remover), threading.Thread(target=writer, args=("waiter", 0.1)),
               threading.Thread(target=writer, args=("newcomer", 0.35))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
