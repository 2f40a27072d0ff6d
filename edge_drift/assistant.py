"""The library facade: load the models once, answer steered toward a user, learn from votes, close in order."""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

import numpy as np

from .attributes import AttributeSet, load_attribute_set
from .decoding import (Event, Models, PlainStrategy, Request, SamplingSettings, Strategy, check_tokenizers,
                       join_events)
from .engine import Engine
from .errors import ContextOverflowError, EdgeDriftError, ProfileNotFoundError
from .fitting import FitReport, fit_profile, plan_from_summary
from .pairs import Pair
from .profile import Profile, check_user_name
from .questions import Question, leaning, next_question
from .rewards import cached_differences
from .store import ProfileStore
from .strategies import DEFAULT_STRATEGY

# Attribute system prompts are a few tokens longer than the LLM's; the sLM sequences need that room too.
CONTEXT_MARGIN = 64
# Each cached strategy keeps an sLM context warm (its KV cache, ~100 MB for 1k positions x 4 sequences of the
# 135M model): enough for every strategy of one user, or the default strategy of several.
CACHED_STRATEGIES = 8


@dataclass
class Steering:
    """What answers a request: the strategy object, the profile behind it, and why (for headers/notices)."""

    strategy: Strategy
    profile: Profile | None
    user: str | None
    notice: str | None = None

    def describe(self) -> dict:
        return {"user": self.user, "strategy": self.strategy.name,
                "profile": None if self.profile is None else {"n_pairs": self.profile.n_pairs,
                                                              "updated_at": self.profile.updated_at}}


@dataclass
class Prepared:
    """A request checked against the context, ready to stream; `dropped` old turns were trimmed."""

    steering: Steering
    request: Request
    base_prompt: str
    n_prompt_tokens: int
    dropped: int = 0


class Assistant:
    """Owns the LLM, the sLM, every strategy's sLM context and the profiles folder.

    Strategies are cached per (user, strategy, options) so their sLM KV caches stay warm across turns;
    close() frees them before the models (children before parents). Not thread-safe: one thread drives it
    (the server gives it to a single worker).

        >>> with Assistant("default") as assistant:                     # doctest: +SKIP
        ...     text, last = assistant.generate([{"role": "user", "content": "Hi"}], user="terse_tim")
    """

    def __init__(self, model: str | os.PathLike | Engine = "default", *, slm: str | os.PathLike | None = None,
                 reward_model: str | os.PathLike | None = None, profiles_dir: str | os.PathLike | None = None,
                 attributes: AttributeSet | None = None, n_ctx: int = 4096):
        self._exit = ExitStack()
        self._strategies: OrderedDict[tuple, tuple[Strategy, Profile | None]] = OrderedDict()
        self._profiles: dict[str, tuple[tuple[int, int], Profile]] = {}
        self._pinned: dict[str, Profile] = {}
        try:
            self.llm = model if isinstance(model, Engine) else self._own(Engine(model, n_ctx=n_ctx))
            self.slm = self._open_same_family(slm, n_ctx)
            self.reward_model = self._open_same_family(reward_model, n_ctx) if reward_model else None
        except BaseException:
            self.close()
            raise
        self.models = Models(self.llm, self.slm)
        self.store = ProfileStore(profiles_dir)
        self.attributes = attributes  # for a user's first profile; None = all 48

    def _own(self, engine: Engine) -> Engine:
        self._exit.callback(engine.close)
        return engine

    def _open_same_family(self, reference, n_ctx: int) -> Engine:
        from .models import resolve_model

        if reference is None or resolve_model(reference) == self.llm.path:
            return self.llm
        engine = self._own(Engine(reference, n_ctx=n_ctx))
        check_tokenizers(self.llm, engine)
        return engine

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Strategies (sLM contexts) first, then the models they were made from. Safe to call twice."""
        while self._strategies:
            _, (strategy, _) = self._strategies.popitem()
            strategy.close()
        self._exit.close()

    def __enter__(self) -> "Assistant":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- profiles -----------------------------------------------------------------------------------
    def pin(self, profile: Profile) -> None:
        """Answer profile.user with this in-memory profile instead of the store's (evaluations, benchmarks)."""
        self.forget(profile.user)
        self._pinned[profile.user] = profile

    def profile(self, user: str) -> Profile | None:
        """The user's profile (None if they have none), re-read only when its file changed."""
        if user in self._pinned:
            return self._pinned[user]
        path = self.store.path(user)
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._profiles.pop(user, None)
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._profiles.get(user)
        if known is None or known[0] != stamp:
            known = (stamp, self.store.load(user, self.slm.identity.to_dict()))
            self._profiles[user] = known
        return known[1]

    def base_prompt(self, profile: Profile | None) -> str:
        return profile.base_prompt if profile else load_attribute_set().base

    def fit(self, user: str, pairs: Sequence[Pair], *, incremental: bool = False,
            progress_factory: Callable | None = None, **options) -> FitReport:
        """Fit (or extend) a user's profile with the sLM; the next answer uses it."""
        if not incremental and options.get("attributes") is None:
            options["attributes"] = self.attributes
        report = fit_profile(self.slm, self.store, user, pairs, incremental=incremental,
                             progress_factory=progress_factory, **options)
        self._profiles.pop(user, None)
        return report

    def question(self, user: str, rng: np.random.Generator | None = None) -> Question:
        """What the next compare round should ask `user` about: the attribute their votes so far leave the profile
        least sure of (BALD on a Laplace posterior; research: "Which question to ask"). The round's two answers
        then lean toward and away from it (`lean="+NAME"` / `"-NAME"`)."""
        check_user_name(user)
        profile = self.profile(user)
        attributes = profile.attribute_set if profile else (self.attributes or load_attribute_set())
        differences = np.empty((0, len(attributes.names)))  # no votes yet: the prior, every attribute alike
        if profile is not None and profile.n_pairs:
            cache = self.store.load_cache(user, self.slm.scoring_key, profile.max_response_tokens,
                                          profile.position_decay)
            differences = cached_differences(self.store.load_pairs(user), attributes, cache)
        weights = {a.name: a.weight for a in profile.attributes} if profile else {}
        return next_question(differences, attributes.names, weights, rng or np.random.default_rng())

    def say(self, user: str, text: str | None, progress_factory: Callable | None = None) -> FitReport:
        """Set how a user likes answers, in their words (None removes it). It becomes the attribute `statement`:
        a user without a profile gets one that steers with it at once; a profile refits with it, scoring only the
        statement on the pairs it has."""
        check_user_name(user)
        exists = self.store.exists(user)
        if text is not None and not text.strip():
            raise EdgeDriftError("the statement is empty; say how you like answers, e.g. \"Short, plain answers\"")
        if text is None:
            profile = self.profile(user)
            if profile is None:
                raise ProfileNotFoundError(f"no profile for {user!r}; nothing to remove")
            if profile.n_pairs == 0:
                raise EdgeDriftError(f"{user!r} has no votes, only the statement; delete the profile with "
                                     f"`edge-drift profile rm {user}`")
        kept = {"solver": self.profile(user).solver} if exists else {}  # a statement changes no other choice
        return self.fit(user, [], incremental=exists, statement="" if text is None else text,
                        progress_factory=progress_factory, **kept)

    def feedback(self, user: str, pair: Pair, progress_factory: Callable | None = None) -> FitReport:
        """Learn one decisive vote: score only that pair, refit incrementally (a first vote starts a profile)."""
        return self.fit(user, [pair], incremental=self.store.exists(check_user_name(user)),
                        progress_factory=progress_factory)

    def unlearn(self, user: str, pair_key: str) -> Profile | None:
        """Take one pair back (undo a vote): refit on the others from cached rewards (with screening, a later
        pair moving into a fully scored place may score its missing attributes). Returns the new profile, or None when it was the last pair (the profile is gone, answers are plain)."""
        profile = self.profile(user)
        pairs = self.store.load_pairs(user)
        kept = [p for p in pairs if p.key != pair_key]
        if profile is None or len(kept) == len(pairs):
            raise EdgeDriftError(f"user {user!r} has no pair {pair_key!r} to take back")
        self.forget(user)
        if not kept:
            self.store.remove_profile(user)
            return None
        return self.fit(user, kept, solver=profile.solver, attributes=profile.attribute_set,
                        screening=plan_from_summary(profile.screening), top_k_attributes=profile.top_k, max_response_tokens=profile.max_response_tokens,
                        position_decay=profile.position_decay).profile

    def remove(self, user: str) -> None:
        """Delete the user's profile, pairs and cached rewards, and forget their warm strategies."""
        self.forget(user)
        self.store.remove(user)

    def forget(self, user: str) -> None:
        for key in [k for k in self._strategies if k[0] == user]:
            self._strategies.pop(key)[0].close()
        self._profiles.pop(user, None)

    # -- steering -----------------------------------------------------------------------------------
    def steering(self, user: str | None, strategy: str = DEFAULT_STRATEGY, *, fallback_to_plain: bool = False,
                 **options) -> Steering:
        """The strategy that answers `user`. Without a profile: an error, or plain decoding if asked."""
        from .strategies import make_strategy

        options = {k: v for k, v in options.items() if v is not None}  # unset knobs keep their owners' defaults
        lean = options.pop("lean", None)
        if user is not None:
            check_user_name(user)
        profile = self.profile(user) if user else None
        if strategy == "plain":
            if lean is not None:
                raise EdgeDriftError("lean tilts a steering strategy; plain decoding has nothing to tilt")
            return Steering(PlainStrategy(), profile, user)
        if lean is not None:  # one side of an informative compare round (see `question`)
            if not user:
                raise EdgeDriftError("lean needs a user: it tilts that user's profile")
            profile = leaning(profile, self.attributes or load_attribute_set(), lean, self.slm.identity.to_dict(),
                              user)
        if profile is None and not (strategy == "pad" and options.get("preference")):
            if fallback_to_plain:
                why = f"no profile for {user!r}" if user else "no user given"
                return Steering(PlainStrategy(), None, user, f"{why}: answered with plain decoding")
            if not user:
                raise EdgeDriftError(f"strategy {strategy!r} needs --user USER (or use --no-steer)")
            self.store.load(user)  # raises the one-line 'no profile ... create it with' error
        key = (user, strategy, lean, tuple(sorted(options.items())))  # each side of a round keeps its warm strategy
        cached = self._strategies.get(key)
        if cached is not None and cached[1] is profile:
            self._strategies.move_to_end(key)
            return Steering(cached[0], profile, user)
        if cached is not None:  # the profile was refitted: keep the warm sLM context when the strategy can
            chosen = cached[0]
            if hasattr(chosen, "update_profile"):
                chosen.update_profile(profile)
            else:
                chosen.close()
                chosen = make_strategy(strategy, profile, reward_model=self.reward_model, **options)
        else:
            chosen = make_strategy(strategy, profile, reward_model=self.reward_model, **options)
        self._strategies[key] = (chosen, profile)
        self._strategies.move_to_end(key)
        while len(self._strategies) > CACHED_STRATEGIES:
            _, (old, _) = self._strategies.popitem(last=False)
            old.close()
        return Steering(chosen, profile, user)

    def prepare(self, messages: list[dict], *, user: str | None = None, strategy: str = DEFAULT_STRATEGY,
                system: str | None = None, settings: SamplingSettings | None = None, trim: bool = False,
                fallback_to_plain: bool = False, **options) -> Prepared:
        """Resolve the steering and fit the request into the context, raising before anything is generated.

        With trim=True the oldest turns are dropped until prompt + answer fit (chat); otherwise a prompt
        that cannot fit raises ContextOverflowError and max_tokens is lowered to the room that is left.
        """
        steering = self.steering(user, strategy, fallback_to_plain=fallback_to_plain, **options)
        base = self.base_prompt(steering.profile)
        request = Request(list(messages), system, settings or SamplingSettings())
        n_ctx = self.llm.llm.n_ctx()

        def prompt_length(turns: list[dict]) -> int:  # measured on what the strategy will really send
            return len(self.llm.chat_tokens(steering.strategy.llm_messages(base, replace(request, messages=turns))))

        turns, dropped = request.messages, 0
        length = prompt_length(turns)
        if trim:
            while length + request.settings.max_tokens + CONTEXT_MARGIN > n_ctx and len(turns) > 1:
                turns = turns[2:] if len(turns) > 2 else turns[1:]
                dropped += 1
                length = prompt_length(turns)
        room = n_ctx - length - CONTEXT_MARGIN
        if room < 1:
            raise ContextOverflowError(
                f"the prompt ({length} tokens) does not fit the model's context of {n_ctx} tokens ({CONTEXT_MARGIN} are "
                "kept for steering); shorten the message" + (" or lower --max-tokens" if trim else ""))
        if request.settings.max_tokens > room:
            request = replace(request, settings=replace(request.settings, max_tokens=room))
        return Prepared(steering, replace(request, messages=turns), base, length, dropped)

    def run(self, prepared: Prepared, cancel: threading.Event | None = None,
            max_seconds: float | None = None) -> Iterator[Event]:
        """Stream a prepared request; the last event carries the totals and who/what answered. Setting `cancel`
        ends it at the next token; past `max_seconds` it ends as if max_tokens were reached ("length")."""
        if prepared.dropped:
            yield Event("", info={"notice": f"dropped the {prepared.dropped} oldest turn(s) to fit the context"})
        deadline = time.monotonic() + max_seconds if max_seconds is not None else None
        request = replace(prepared.request, cancel=cancel, deadline=deadline)
        for event in prepared.steering.strategy.stream(self.models, request, prepared.base_prompt):
            if event.done:
                event.n_prompt_tokens = prepared.n_prompt_tokens
                event.info = {**event.info, **prepared.steering.describe()}
                if prepared.steering.notice:
                    event.info["notice"] = prepared.steering.notice
            yield event

    def stream(self, messages: list[dict], **kwargs) -> Iterator[Event]:
        """prepare() then run(): checks happen now, tokens come as the iterator is consumed."""
        return self.run(self.prepare(messages, **kwargs))

    def generate(self, messages: list[dict], **kwargs) -> tuple[str, Event]:
        """The whole answer: (text, final event)."""
        return join_events(self.stream(messages, **kwargs))
