"""Per-user preference profiles: JSON files with atomic, locked writes, validation and a fit routine."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .attributes import AttributeSet
from .errors import PairsError, ProfileError
from .files import atomic_write
from .paths import PROFILES_ENV, profiles_dir  # noqa: F401  (re-exported)
from .pairs import Pair, parse_pair, write_pairs_lines
from .rewards import DEFAULT_MAX_RESPONSE_TOKENS, LogProbCache, ScoringStats, screened_differences
from .screening import ScreeningPlan, default_plan
from .solvers import DEFAULT_SOLVER, fit_weights, top_k

SCHEMA_VERSION = 1
DEFAULT_TOP_K = 7
DEFAULT_BETA = 0.5
USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_user_name(user: str) -> str:
    """User names become file names: letters, digits, `_ . -`, never a path or `..`."""
    if not USER_PATTERN.match(user) or ".." in user:
        raise ProfileError(
            f"invalid user name {user!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return user


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class AttributeStat:
    name: str
    prompt: str
    weight: float
    unit_preference: float
    selected: bool


@dataclass
class Profile:
    user: str
    slm: dict
    base_prompt: str
    attributes: list[AttributeStat]
    solver: str
    n_pairs: int
    cv_accuracy: float | None
    top_k: int = DEFAULT_TOP_K
    beta: float = DEFAULT_BETA
    max_response_tokens: int = DEFAULT_MAX_RESPONSE_TOKENS
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    preference_text: str | None = None
    pairs_file: str | None = None  # set by ProfileStore.save: the pairs this profile was fitted on
    screening: dict | None = None  # ScreeningResult.summary: attributes left out of the fit, and why

    @property
    def attribute_set(self) -> AttributeSet:
        return AttributeSet.from_dict({"base": self.base_prompt,
                                       "attributes": [{"name": a.name, "prompt": a.prompt} for a in self.attributes]})

    @property
    def selected(self) -> list[AttributeStat]:
        return [a for a in self.attributes if a.selected]

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "user": self.user,
            "slm": self.slm,
            "base_prompt": self.base_prompt,
            "solver": self.solver,
            "n_pairs": self.n_pairs,
            "cv_accuracy": self.cv_accuracy,
            "top_k": self.top_k,
            "beta": self.beta,
            "max_response_tokens": self.max_response_tokens,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "preference_text": self.preference_text,
            **({"pairs_file": self.pairs_file} if self.pairs_file else {}),
            **({"screening": self.screening} if self.screening is not None else {}),
            "selected_attributes": [a.name for a in self.selected],
            "attributes": [vars(a) for a in self.attributes],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Profile":
        fields = {k: data[k] for k in ("user", "slm", "base_prompt", "solver", "n_pairs", "cv_accuracy", "top_k",
                                       "beta", "max_response_tokens", "created_at", "updated_at")}
        return cls(attributes=[AttributeStat(**a) for a in data["attributes"]],
                   preference_text=data.get("preference_text"), pairs_file=data.get("pairs_file"),
                   screening=data.get("screening"), **fields)


def load_schema() -> dict:
    return json.loads(resources.files("edge_drift").joinpath("data/profile.schema.json").read_text())


def validate_profile_data(data, user: str, path: Path) -> Profile:
    """Explain, in one line, what makes a profile file unusable."""
    import jsonschema

    refit = f"refit with `edge-drift profile fit {user} --pairs FILE`"
    if not isinstance(data, dict):
        raise ProfileError(f"{path} is not a profile object; {refit}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ProfileError(f"{path} has schema version {version!r}, this edge-drift reads {SCHEMA_VERSION}; {refit}")
    for attribute in data.get("attributes", []) if isinstance(data.get("attributes"), list) else []:
        for key in ("weight", "unit_preference"):
            value = attribute.get(key) if isinstance(attribute, dict) else None
            if isinstance(value, float) and not math.isfinite(value):
                raise ProfileError(f"{path}: attribute {attribute.get('name')!r} has a non-finite {key}; {refit}")
    try:
        jsonschema.validate(data, load_schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ProfileError(f"{path}: invalid at {where}: {exc.message}; {refit}") from None
    names = [a["name"] for a in data["attributes"]]
    unknown = [n for n in data["selected_attributes"] if n not in names]
    if unknown:
        raise ProfileError(f"{path}: selected attribute(s) {', '.join(unknown)} are unknown to the profile; {refit}")
    if data["user"] != user:
        raise ProfileError(f"{path} belongs to user {data['user']!r}, not {user!r}; rename it or {refit}")
    return Profile.from_dict(data)


class ProfileStore:
    """The profiles folder: one folder per user (profile.json, pairs-HASH.jsonl, rewards.json, votes.jsonl).

    A user's files never share a name with another user's (the folder is the user name, and names cannot
    contain '/'), so `bob` and `bob.rewards` stay apart. The profile is the commit point of a fit: it names the
    pairs file it was fitted on (named by content), so a crash at any moment leaves a profile and pairs that
    belong together. Locks live in `.locks/` (user names cannot start with '.').
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = profiles_dir(root)
        migrate_flat_layout(self)

    def folder(self, user: str) -> Path:
        return self.root / check_user_name(user)

    def path(self, user: str) -> Path:
        return self.folder(user) / "profile.json"

    def pairs_path(self, user: str) -> Path:
        """The pairs file the current profile was fitted on (pairs.jsonl for profiles written before names)."""
        name = None
        try:
            name = json.loads(self.path(user).read_text(encoding="utf-8")).get("pairs_file")
        except (OSError, ValueError, AttributeError):
            pass
        if isinstance(name, str) and PAIRS_FILE_PATTERN.match(name):
            return self.folder(user) / name
        return self.folder(user) / "pairs.jsonl"

    def rewards_path(self, user: str) -> Path:
        return self.folder(user) / "rewards.json"

    def votes_path(self, user: str) -> Path:
        """Ties and both-bad votes: recorded (they are the user's data) but never fitted."""
        return self.folder(user) / "votes.jsonl"

    def lock_path(self, user: str) -> Path:
        return self.root / ".locks" / f"{check_user_name(user)}.lock"

    def record_vote(self, user: str, record: dict) -> None:
        with self.lock(user):
            self.folder(user).mkdir(parents=True, exist_ok=True)
            with self.votes_path(user).open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def drop_vote(self, user: str, vote_id: str) -> bool:
        """Remove one recorded (unfitted) vote by its id; False when there is none."""
        with self.lock(user):
            path = self.votes_path(user)
            if not path.is_file():
                return False
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if json.loads(line).get("id") != vote_id]
            if len(kept) == len(lines):
                return False
            atomic_write(path, "".join(kept))
            return True

    def remove_profile(self, user: str) -> None:
        """The profile and its pairs go; the rewards cache and recorded votes stay (undo of a first vote)."""
        with self.lock(user):
            pairs = self.pairs_path(user)
            self.path(user).unlink(missing_ok=True)
            pairs.unlink(missing_ok=True)

    @contextmanager
    def lock(self, user: str) -> Iterator[None]:
        """One writer per user at a time (readers never need it: writes are atomic renames)."""
        with exclusive_lock(self.lock_path(user)):
            yield

    def exists(self, user: str) -> bool:
        return self.path(user).is_file()

    def load(self, user: str, slm_identity: dict | None = None) -> Profile:
        path = self.path(user)
        if not path.is_file():
            raise ProfileError(f"no profile for {user!r} in {self.root}; create it with "
                               f"`edge-drift profile fit {user} --pairs FILE`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                               f"refit with `edge-drift profile fit {user} --pairs FILE`") from None
        except UnicodeDecodeError as exc:
            raise ProfileError(f"{path} is not UTF-8 text (byte {exc.start}); "
                               f"refit with `edge-drift profile fit {user} --pairs FILE`") from None
        profile = validate_profile_data(data, user, path)
        if slm_identity and profile.slm.get("sha256") != slm_identity.get("sha256"):
            raise ProfileError(
                f"profile {user!r} was fitted with sLM {profile.slm.get('file_name')} but this run uses "
                f"{slm_identity.get('file_name')}; pass that --slm or refit with "
                f"`edge-drift profile fit {user} --pairs {self.pairs_path(user)} --model YOUR_SLM`"
            )
        return profile

    def load_pairs(self, user: str) -> list[Pair]:
        """The pairs the profile was fitted on; a damaged file is an error that names the line, never a guess."""
        from .pairs import parse_pairs_text

        path = self.pairs_path(user)
        if not path.is_file():
            return []
        try:
            return parse_pairs_text(path.read_text(encoding="utf-8"), str(path)).pairs
        except (PairsError, UnicodeDecodeError) as exc:
            why = str(exc) if isinstance(exc, PairsError) else f"{path} is not UTF-8 text"
            raise ProfileError(f"{user}'s saved pairs are damaged ({why}); repair the file, or start over with "
                               f"`edge-drift profile fit {user} --pairs FILE`") from None

    def load_cache(self, user: str, slm_sha256: str, max_response_tokens: int) -> LogProbCache:
        path = self.rewards_path(user)
        cache = None
        if path.is_file():
            try:
                cache = LogProbCache.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError):  # JSON, UTF-8 and shape errors alike
                cache = None  # a damaged cache only costs recomputation
        if cache is None or not cache.compatible(slm_sha256, max_response_tokens):
            cache = LogProbCache(slm_sha256, max_response_tokens)
        return cache

    def save(self, profile: Profile, pairs: Sequence[Pair], cache: LogProbCache) -> Path:
        """Pairs (under a new, content-derived name) and cache first, the profile that names them last.

        Until the profile is replaced, the old profile and the old pairs file are both still there; the
        cache only ever gains entries keyed by content, so any version of it fits any profile.
        """
        folder = self.folder(profile.user)
        text = write_pairs_lines(list(pairs))
        profile.pairs_file = f"pairs-{hashlib.sha256(text.encode()).hexdigest()[:16]}.jsonl"
        atomic_write(folder / profile.pairs_file, text)
        atomic_write(self.rewards_path(profile.user), json.dumps(cache.to_dict()))
        path = self.path(profile.user)
        atomic_write(path, json.dumps(profile.to_dict(), indent=2) + "\n")
        for old in folder.glob("pairs*.jsonl"):  # files of earlier fits, or of one that crashed
            if old.name != profile.pairs_file:
                old.unlink(missing_ok=True)
        return path

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/profile.json") if USER_PATTERN.match(p.parent.name))

    def user_files(self, user: str) -> list[Path]:
        folder = self.folder(user)
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []

    def remove(self, user: str) -> None:
        """Every file of the user, their folder and their lock file (unlinked while held: see exclusive_lock)."""
        with self.lock(user):
            folder = self.folder(user)
            if not folder.is_dir():
                raise ProfileError(f"no profile for {user!r} in {self.root}; `edge-drift profile list` shows them")
            shutil.rmtree(folder)
            self.lock_path(user).unlink(missing_ok=True)

    def export(self, user: str) -> dict:
        """The profile and its pairs (DPO-style prompt/chosen/rejected records), as `profile export` prints them."""
        profile = self.load(user)
        return {"profile": profile.to_dict(), "pairs": [p.to_dict() for p in self.load_pairs(user)]}


PAIRS_FILE_PATTERN = re.compile(r"^pairs-[0-9a-f]{16}\.jsonl$")


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` that survives the file being deleted by another holder.

    `profile rm` unlinks the lock file while it holds it. A writer that was waiting then holds a lock on a
    file nobody else can find, so after acquiring it checks that `path` is still that file, and retries on
    the new one otherwise. Without fcntl (Windows) the lock file is never unlinked, so filelock is enough.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        from filelock import FileLock

        with FileLock(str(path)):
            yield
        return
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(handle).st_ino:
                break
        except BaseException:
            os.close(handle)
            raise
        os.close(handle)  # it was unlinked while we waited: lock the file that is there now
    try:
        yield
    finally:
        os.close(handle)  # closing releases the flock


def migrate_flat_layout(store: ProfileStore) -> None:
    """Move profiles of the old flat layout (USER.json, USER.pairs.jsonl, USER.rewards.json) into folders.

    A file is taken for a profile only by its content (a profile object naming that user), never by its
    name, which is what let `bob.rewards` collide with bob's cache in the old layout.
    """
    if not store.root.is_dir():
        return
    for candidate in store.root.glob("*.json"):
        user = candidate.stem
        if not USER_PATTERN.match(user) or ".." in user or (store.root / user).exists():
            continue
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not (isinstance(data, dict) and data.get("user") == user and "schema_version" in data):
            continue
        with store.lock(user):
            folder = store.root / user
            folder.mkdir()
            for old, new in ((f"{user}.pairs.jsonl", "pairs.jsonl"), (f"{user}.rewards.json", "rewards.json"),
                             (f"{user}.votes.jsonl", "votes.jsonl")):
                if (store.root / old).is_file():
                    os.replace(store.root / old, folder / new)
            os.replace(candidate, folder / "profile.json")  # last: the profile marks a finished migration
        (store.root / f".{user}.lock").unlink(missing_ok=True)


def profile_from_differences(user: str, slm: dict, attributes: AttributeSet, differences: np.ndarray,
                             solver: str = DEFAULT_SOLVER, k: int = DEFAULT_TOP_K, kept: np.ndarray | None = None,
                             **fields) -> Profile:
    """Solve the weights from reward differences (n_pairs, n_attributes) and assemble a profile.

    With `kept`, only those columns (the attributes scored on every pair) are fitted; the others,
    screened out and NaN on some pairs, get weight 0 and are never mixed into decoding.
    """
    kept = np.arange(differences.shape[1]) if kept is None else np.asarray(kept)
    fit = fit_weights(differences[:, kept], solver, k)
    if not np.all(np.isfinite(fit.weights)):
        raise ProfileError("the fit produced non-finite weights; check the pairs file")
    weights = np.zeros(differences.shape[1])
    weights[kept] = fit.weights
    # only attributes with a weight can be selected: a zero weight would steer nothing
    selected = {int(i) for i in top_k(weights, min(k, len(attributes.attributes))) if weights[i] != 0}
    with np.errstate(invalid="ignore"):
        unit = np.nan_to_num(np.nanmean(differences, axis=0)) if len(differences) else np.zeros(len(weights))
    stats = [AttributeStat(a.name, a.prompt, round(float(w), 6), round(float(u), 6), i in selected)
             for i, (a, w, u) in enumerate(zip(attributes.attributes, weights, unit))]
    accuracy = None if fit.cv_accuracy is None else round(fit.cv_accuracy, 4)
    return Profile(user=user, slm=slm, base_prompt=attributes.base, attributes=stats, solver=fit.solver,
                   n_pairs=len(differences), cv_accuracy=accuracy, top_k=k, **fields)


def check_new_pairs(pairs: Sequence[Pair]) -> None:
    for number, pair in enumerate(pairs, 1):
        try:
            parse_pair(pair.to_dict())
        except ValueError as exc:
            raise PairsError(f"new pair {number} (prompt starts {pair.prompt[:40]!r}): {exc}") from None


def plan_from_summary(summary: dict | None) -> ScreeningPlan:
    """The screening plan a profile was fitted with (the default when none is recorded)."""
    if not summary:
        return ScreeningPlan()
    return ScreeningPlan(summary["after_pairs"], summary["keep"], summary["recheck_every"])


@dataclass
class FitReport:
    profile: Profile
    path: Path
    stats: ScoringStats
    n_new_pairs: int
    n_duplicates: int
    previous_weights: dict[str, float] | None

    def moves(self, n: int = 3) -> list[tuple[str, float, float]]:
        """The n attributes whose weights moved most in this (re)fit: (name, before, after)."""
        before = self.previous_weights or {}
        moved = sorted(self.profile.attributes, key=lambda a: -abs(a.weight - before.get(a.name, 0.0)))
        return [(a.name, before.get(a.name, 0.0), a.weight) for a in moved[:n]]


def fit_profile(engine, store: ProfileStore, user: str, new_pairs: Sequence[Pair], *,
                attributes: AttributeSet | None = None, incremental: bool = False,
                solver: str = DEFAULT_SOLVER, top_k_attributes: int | None = None,
                screening: ScreeningPlan | None = None,
                max_response_tokens: int | None = None, preference_text: str | None = None,
                progress_factory: Callable[[int], Callable[[int], None]] | None = None) -> FitReport:
    """Fit (or with incremental=True extend) a user's profile; nothing is written unless it all works.

    Cached log-probs are reused, so only pairs or attributes not seen before are scored.
    """
    check_user_name(user)
    with store.lock(user):
        previous = store.load(user) if store.exists(user) else None
        if incremental and previous is None:
            raise ProfileError(f"no profile for {user!r} yet; create it with `edge-drift profile fit {user} --pairs FILE`")
        if attributes is None:
            attributes = previous.attribute_set if previous is not None else None
        if attributes is None:
            from .attributes import load_attribute_set
            attributes = load_attribute_set()
        if max_response_tokens is None:
            max_response_tokens = previous.max_response_tokens if previous else DEFAULT_MAX_RESPONSE_TOKENS
        k = top_k_attributes or (previous.top_k if previous else DEFAULT_TOP_K)

        old_pairs = store.load_pairs(user) if incremental else []
        known = {p.key for p in old_pairs}
        added = [p for p in new_pairs if p.key not in known]
        check_new_pairs(added)  # what is saved must load again: refuse here what read_pairs would refuse
        pairs = old_pairs + added
        cache = store.load_cache(user, engine.identity.sha256, max_response_tokens)

        if screening is None:  # a profile keeps the plan it was fitted with, so `add` makes the same choices
            recorded = previous.screening if previous and incremental else None
            screening = plan_from_summary(recorded) if recorded else default_plan(solver)
        progress = progress_factory(len(pairs)) if progress_factory else None
        result, stats = screened_differences(engine, pairs, attributes, cache, screening, progress)
        profile = profile_from_differences(
            user, engine.identity.to_dict(), attributes, result.differences, solver, k, kept=result.kept,
            screening=result.summary(attributes.names, screening),
            beta=previous.beta if previous else DEFAULT_BETA, max_response_tokens=max_response_tokens,
            created_at=previous.created_at if previous else now(),
            preference_text=preference_text or (previous.preference_text if previous else None))
        path = store.save(profile, pairs, cache)
    old_weights = {a.name: a.weight for a in previous.attributes} if previous else None
    return FitReport(profile, path, stats, len(added), len(new_pairs) - len(added), old_weights)
