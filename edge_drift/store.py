"""Where profiles live: one folder per user with atomic, locked writes of the profile, its pairs and rewards."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .errors import PairsError, ProfileError, ProfileNotFoundError
from .files import atomic_write
from .pairs import Pair, write_pairs_lines
from .paths import profiles_dir
from .profile import USER_PATTERN, Profile, check_user_name, validate_profile_data
from .rewards import LogProbCache


class ProfileStore:
    """The profiles folder: one folder per user (profile.json, pairs-HASH.jsonl, rewards.json, votes.jsonl,
    imported.json).

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

    def imported_path(self, user: str) -> Path:
        """Ids of the ratings already learned from other apps, per source (importing twice adds nothing)."""
        return self.folder(user) / "imported.json"

    def imported(self, user: str, source: str) -> set[str]:
        try:
            data = json.loads(self.imported_path(user).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()  # none yet, or damaged: at worst a rating is offered again, and its pair is a duplicate
        ids = data.get(source) if isinstance(data, dict) else None
        return {i for i in ids if isinstance(i, str)} if isinstance(ids, list) else set()

    def remember_imported(self, user: str, source: str, ids: set[str]) -> None:
        with self.lock(user):
            path = self.imported_path(user)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            data = data if isinstance(data, dict) else {}
            data[source] = sorted(self.imported(user, source) | set(ids))
            self.folder(user).mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(data, indent=1))

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
            raise ProfileNotFoundError(f"no profile for {user!r} in {self.root}; create it with "
                                       f"`edge-drift profile fit {user} --pairs FILE` or `edge-drift profile say "
                                       f"{user} \"how you like answers\"`")
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
            text = path.read_text(encoding="utf-8")
            # a profile of a statement and no votes yet saves an empty pairs file
            return parse_pairs_text(text, str(path)).pairs if text.strip() else []
        except (PairsError, UnicodeDecodeError) as exc:
            why = str(exc) if isinstance(exc, PairsError) else f"{path} is not UTF-8 text"
            raise ProfileError(f"{user}'s saved pairs are damaged ({why}); repair the file, or start over with "
                               f"`edge-drift profile fit {user} --pairs FILE`") from None

    def load_cache(self, user: str, slm_sha256: str, max_response_tokens: int, position_decay: float) -> LogProbCache:
        return LogProbCache.load(self.rewards_path(user), slm_sha256, max_response_tokens, position_decay)

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
                raise ProfileNotFoundError(f"no profile for {user!r} in {self.root}; `edge-drift profile list` shows them")
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
