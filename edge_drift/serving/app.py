"""The FastAPI application: OpenAI-compatible chat, votes that refit a profile, and profile management."""
from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from importlib import resources

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EdgeDriftError, ProfileError
from ..pairs import Pair, parse_pairs_text, write_pairs_lines
from ..profile import check_user_name
from .tasks import FitTask, Tasks
from .votes import Completion, Completions, vote_pair
from .wire import (CHAT_REQUEST_SCHEMA, DONE, FEEDBACK_REQUEST_SCHEMA, IMPORT_REQUEST_SCHEMA, STATEMENT_REQUEST_SCHEMA,
                   ApiError, ChatCall, ChunkWriter, as_api_error, bad, check_body_knob, client_defaults,
                   completion_body, error_body, json_body, model_names, parse_chat, sse)
from .worker import DEFAULT_MAX_SECONDS, DEFAULT_QUEUE_SIZE, QueueFull, Worker

USER_HEADERS = ("x-edge-drift-user", "x-openwebui-user-id")  # in this order, then the body's `user`
RETRY_AFTER_S = 2
# Tokens reach the HTTP thread in batches at most this old: it competes with llama.cpp for the same cores,
# and every wake-up stalls a generation step (measured: one wake-up per token cost ~5% of tokens/s).
FLUSH_S = 0.04


def resolve_user(request: Request, body_user: str | None) -> str | None:
    """X-Edge-Drift-User, then Open WebUI's forwarded user id, then the body's `user` string."""
    for header in USER_HEADERS:
        if request.headers.get(header):
            return valid_user(request.headers[header], header)
    return valid_user(body_user, "user") if body_user else None


def valid_user(user: str, param: str) -> str:
    try:
        return check_user_name(user.strip())
    except ProfileError as exc:
        raise bad(str(exc), param, "invalid_user") from None


def steering_headers(described: dict) -> dict:
    profile = described.get("profile")
    headers = {"X-Edge-Drift-User": described.get("user") or "", "X-Edge-Drift-Strategy": described["strategy"],
               "X-Edge-Drift-Profile": f"{profile['n_pairs']} pairs, updated {profile['updated_at']}" if profile
               else "none"}
    if described.get("notice"):
        headers["X-Edge-Drift-Notice"] = described["notice"]
    return headers


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def create_app(assistant, *, api_key: str | None = None, queue_size: int = DEFAULT_QUEUE_SIZE,
               max_seconds: float | None = DEFAULT_MAX_SECONDS) -> FastAPI:
    """The server's routes over one Assistant, driven by one worker thread; `max_seconds` bounds each answer's
    generation (None: no bound)."""
    worker = Worker(assistant, queue_size)
    # background fits may take at most half the queue: a client that starts many cannot fill it ahead of every chat
    max_background = max(1, queue_size // 2)
    completions = Completions()
    tasks = Tasks()
    app = FastAPI(title="edge-drift", version=_version(), docs_url=None, redoc_url=None,
                  on_startup=[worker.start], on_shutdown=[worker.stop])
    app.state.worker, app.state.completions, app.state.assistant = worker, completions, assistant

    def check_key(request: Request) -> None:
        """Every /v1 route needs the key when the server has one (a dependency, not a middleware: Starlette's
        BaseHTTPMiddleware re-streams every response body through an extra task)."""
        given = request.headers.get("authorization", "")
        if api_key and not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise ApiError(401, "invalid API key; send `Authorization: Bearer KEY` (the key `edge-drift serve` "
                                "was started with)", type="authentication_error", code="invalid_api_key")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(check_key)])

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(error_body(str(exc.detail), code="not_found" if exc.status_code == 404 else None),
                            status_code=exc.status_code)

    async def submit(work):
        try:
            return worker.submit(work)
        except QueueFull:
            raise ApiError(503, f"the server is busy ({worker.queue_size} requests waiting); retry shortly",
                           type="server_error", code="queue_full",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None

    async def run(work):
        job = await submit(work)
        try:
            return await job.result()
        except Exception as exc:
            raise as_api_error(exc) from None

    async def read_json(request: Request):
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise bad("the body is not valid JSON") from None

    # -- the page (issue 11): every asset ships in the package, nothing comes from a CDN -----------------
    web = resources.files("edge_drift") / "web"
    app.mount("/static", StaticFiles(directory=str(web)), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return HTMLResponse((web / "index.html").read_text(encoding="utf-8"))

    # -- health and models ---------------------------------------------------------------------------
    @app.get("/health")
    async def health():
        return {"status": "ok", "model": assistant.llm.path.name, "slm": assistant.slm.path.name,
                "queue": {"waiting": worker.waiting, "size": worker.queue_size, "busy": worker.current is not None,
                          "completed": worker.completed, "cancelled": worker.cancelled}}

    @app.get("/defaults")
    async def defaults():
        """The defaults the page starts from (no secrets: public, like /health)."""
        return client_defaults()

    @v1.get("/models")
    async def models():
        created = int(assistant.llm.path.stat().st_mtime)
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                            "owned_by": "edge-drift"} for name in model_names()]}

    # -- chat -------------------------------------------------------------------------------------------
    @v1.post("/chat/completions", openapi_extra=json_body(CHAT_REQUEST_SCHEMA))
    async def chat_completions(request: Request):
        call = parse_chat(await read_json(request))
        user = resolve_user(request, call.user)

        def work(owner, job):
            prepared = owner.prepare(call.messages, user=user, strategy=call.strategy, system=call.system,
                                     settings=call.settings, fallback_to_plain=True, trim=call.trim_history,
                                     **call.knobs)
            # a cancelled job ends at its next token; one past max_seconds ends as if max_tokens were reached
            events = owner.run(prepared, cancel=job.cancelled, max_seconds=max_seconds)
            first = next(events)  # headers go out with the first token (or not at all, if it fails)
            notices = [prepared.steering.notice, prepared.dropped and
                       f"dropped the {prepared.dropped} oldest turn(s) to fit the context"]
            job.emit(({**prepared.steering.describe(), "dropped_turns": prepared.dropped,
                       "notice": "; ".join(n for n in notices if n) or None}, [first]))
            batch, flushed = [], time.monotonic()
            for event in events:
                if job.cancelled.is_set():
                    return "cancelled"  # the client left: free the worker at this token
                batch.append(event)
                if event.done or time.monotonic() - flushed >= FLUSH_S:
                    job.emit((None, batch))
                    batch, flushed = [], time.monotonic()
            return "done"

        job = await submit(work)
        watcher = asyncio.create_task(cancel_on_disconnect(request, job))  # until the answer is out
        kind, value = await job.next()
        if kind != "item":  # nothing was generated: answer with a plain error (400, 404, ...)
            watcher.cancel()
            job.cancel()
            raise as_api_error(value)
        described, first = value
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        headers = {**steering_headers(described), "X-Edge-Drift-Completion-Id": completion_id}

        def remember(text: str) -> None:
            history = tuple(call.messages[:-1])
            completions.remember(completion_id, Completion(user, history, call.messages[-1]["content"], call.system,
                                                           text, described["strategy"]))

        if call.stream:
            watcher.cancel()  # from here the stream notices a disconnect itself
            return StreamingResponse(stream_chunks(job, first, call, completion_id, created, remember),
                                     media_type="text/event-stream",
                                     headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            events = [event async for event in job_events(job, first)]
        finally:
            watcher.cancel()
            job.cancel()
        text = "".join(event.text for event in events)
        remember(text)
        return JSONResponse(completion_body(completion_id, created, call.model, text, events[-1], described),
                            headers=headers)

    async def job_events(job, first: list):
        """The events of a generation job, in order; a failure mid-way raises as an ApiError."""
        for event in first:
            yield event
        while True:
            kind, value = await job.next()
            if kind == "error":
                raise as_api_error(value)
            if kind != "item":
                return
            for event in value[1]:
                yield event

    async def stream_chunks(job, first: list, call: ChatCall, completion_id: str, created: int, remember):
        writer = ChunkWriter(completion_id, created, call.model, call.include_usage)
        parts, last = [], None
        try:
            yield writer.role()
            async for event in job_events(job, first):
                if event.text:
                    parts.append(event.text)
                    yield writer.content(event.text)
                if event.done:
                    last = event
            yield writer.finish(last)
            if call.include_usage:
                yield writer.usage(last)
            yield DONE
            remember("".join(parts))
        except ApiError as exc:  # headers are gone already: the error travels as a data object
            yield sse(exc.body())
        finally:
            job.cancel()  # a disconnect closes this generator: the worker stops at its next token

    # -- learning from votes ------------------------------------------------------------------------------
    @v1.post("/feedback", openapi_extra=json_body(FEEDBACK_REQUEST_SCHEMA))
    async def feedback(request: Request):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object")
        user = resolve_user(request, body.get("user") if isinstance(body.get("user"), str) else None)
        if user is None:
            raise bad("feedback needs a user: the X-Edge-Drift-User header or the body's `user`", "user")
        pair, winner = vote_pair(body, user, completions)
        if pair is None:  # tie or both bad: the user's data, recorded, but nothing to fit
            record = {"id": f"vote-{uuid.uuid4().hex[:16]}", "winner": winner, "a": body.get("a"), "b": body.get("b"),
                      "at": int(time.time())}
            await run(lambda owner, job: owner.store.record_vote(user, record))
            return {"object": "feedback", "id": record["id"], "user": user, "winner": winner, "fitted": False}
        report = await run(lambda owner, job: owner.feedback(user, pair))
        return {"object": "feedback", "id": f"pair-{pair.key}", "user": user, "winner": winner, "fitted": True,
                "n_pairs": report.profile.n_pairs, "n_new_pairs": report.n_new_pairs,
                "moved": moves_body(report),
                "profile": profile_summary(report.profile)}

    @v1.delete("/feedback/{vote_id}")
    async def undo_feedback(vote_id: str, request: Request, user: str | None = None):
        """Take a vote back by the id /v1/feedback answered with: its pair leaves the profile (refit from
        cached rewards), or a recorded tie/both-bad is dropped."""
        user = resolve_user(request, user)
        if user is None:
            raise bad("undo needs a user: the X-Edge-Drift-User header or ?user=", "user")

        def work(owner, job):
            if vote_id.startswith("pair-"):
                return owner.unlearn(user, vote_id[len("pair-"):])
            if not owner.store.drop_vote(user, vote_id):
                raise ApiError(404, f"no vote {vote_id!r} for user {user!r}", param="vote_id", code="vote_not_found")
            return owner.profile(user)

        profile = await run(work)
        return {"object": "feedback.deleted", "id": vote_id, "user": user, "deleted": True,
                "profile": profile_summary(profile) if profile else None}

    # -- profiles -----------------------------------------------------------------------------------------
    @v1.get("/profiles")
    def list_profiles():
        data = []
        for user in assistant.store.list():
            try:
                data.append(profile_summary(assistant.store.load(user)))
            except EdgeDriftError as exc:
                data.append({"object": "profile", "user": user, "error": str(exc)})
        return {"object": "list", "data": data}

    @v1.get("/profiles/{user}")
    def get_profile(user: str):
        profile = load_profile(user)
        return {**profile_summary(profile), "attributes": profile.to_dict()["attributes"]}

    @v1.delete("/profiles/{user}")
    async def delete_profile(user: str):
        user = valid_user(user, "user")
        await run(lambda owner, job: owner.remove(user))
        return {"object": "profile.deleted", "user": user, "deleted": True}

    @v1.put("/profiles/{user}/statement", openapi_extra=json_body(STATEMENT_REQUEST_SCHEMA))
    async def put_statement(user: str, request: Request):
        """How the user likes answers, in a sentence: it steers at once, and their votes then weigh it."""
        user = valid_user(user, "user")
        body = await read_json(request)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise bad("the body needs `text`: a sentence saying how you like answers", "text")
        report = await run(lambda owner, job: owner.say(user, text))
        return import_summary(user, report)

    @v1.delete("/profiles/{user}/statement")
    async def delete_statement(user: str):
        user = valid_user(user, "user")
        report = await run(lambda owner, job: owner.say(user, None))
        return import_summary(user, report)

    @v1.get("/profiles/{user}/question")
    async def get_question(user: str):
        """The compare round that teaches this user's profile most: two answers leaning toward and away from it."""
        user = valid_user(user, "user")
        question = await run(lambda owner, job: owner.question(user))
        return {"object": "profile.question", "user": user, "attribute": question.attribute,
                "about": question.about(), "information_bits": round(question.information, 4),
                "weight": question.weight, "lean": [f"+{question.attribute}", f"-{question.attribute}"]}

    @v1.get("/profiles/{user}/export")
    def export_profile(user: str, format: str = "json"):
        profile = load_profile(user)
        pairs = assistant.store.load_pairs(profile.user)
        if format == "jsonl":
            return Response(write_pairs_lines(pairs), media_type="application/x-ndjson",
                            headers={"Content-Disposition": f'attachment; filename="{profile.user}.pairs.jsonl"'})
        if format != "json":
            raise bad("format must be json or jsonl", "format")
        return {"object": "profile.export", "profile": profile.to_dict(), "pairs": [p.to_dict() for p in pairs]}

    @v1.post("/profiles/{user}/import", openapi_extra=json_body(IMPORT_REQUEST_SCHEMA))
    async def import_pairs(user: str, request: Request, background: bool = False):
        """Fit pairs into a profile; with ?background=true answer 202 with a task to poll for progress."""
        user = valid_user(user, "user")
        pairs, options = import_body(await request.body(), request.headers.get("content-type", ""))
        replace = options.pop("replace", False)
        task = FitTask(len(pairs)) if background else None

        def work(owner, job):
            if task:
                task.start()
            report = owner.fit(user, pairs, incremental=owner.store.exists(user) and not replace,
                               progress_factory=task.progress_factory if task else None, **options)
            return import_summary(user, report)

        if task is None:
            return await run(work)
        pending = tasks.pending()
        if len(pending) >= max_background:  # keep the rest of the queue for chats, which someone is waiting on
            raise ApiError(429, f"{len(pending)} background imports are still queued or running (task "
                                f"{pending[-1].id}); poll /v1/tasks/ID and retry when one is done",
                           type="rate_limit_error", code="too_many_tasks", headers={"Retry-After": str(RETRY_AFTER_S)})
        job = await submit(work)
        tasks.add(task, job)
        return JSONResponse(task.to_dict(), status_code=202)

    @v1.get("/tasks/{task_id}")
    async def get_task(task_id: str):
        task = tasks.get(task_id)
        if task is None:
            raise ApiError(404, f"no task {task_id!r} (tasks are kept in memory for a while)", code="task_not_found")
        return task.to_dict()

    def load_profile(user: str):
        user = valid_user(user, "user")
        try:
            return assistant.store.load(user)
        except ProfileError as exc:
            raise as_api_error(exc) from None

    app.include_router(v1)
    return app


async def cancel_on_disconnect(request: Request, job, every_s: float = 0.25) -> None:
    """A client that leaves before its (non-streamed) answer frees the worker at the next token, as a stream's does."""
    while not await request.is_disconnected():
        await asyncio.sleep(every_s)
    job.cancel()


def moves_body(report) -> list[dict]:
    return [{"attribute": name, "before": old, "after": new} for name, old, new in report.moves()]


def import_summary(user: str, report) -> dict:
    return {"object": "profile.import", "user": user, "n_pairs": report.profile.n_pairs,
            "n_new_pairs": report.n_new_pairs, "n_duplicates": report.n_duplicates,
            "seconds": round(report.stats.seconds, 2),
            "moved": moves_body(report),
            "profile": profile_summary(report.profile)}


def import_body(raw: bytes, content_type: str) -> tuple[list[Pair], dict]:
    """JSONL pairs, or {"pairs": [...], "attributes": [...], "top_k": N, "solver": S, "beta": B, "replace": bool}.

    Every option is checked by the CLI's rule here, before any pair is scored: a bad one is a 400 naming it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("the pairs are not UTF-8 text") from None
    options: dict = {}
    if "json" in content_type and "ndjson" not in content_type and text.lstrip().startswith("{") \
            and '"pairs"' in text:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise bad(f"the body is not valid JSON ({exc.msg})") from None
        if not isinstance(body.get("pairs"), list):
            raise bad("pairs must be a list of {prompt, chosen, rejected} objects", "pairs")
        text = "".join(json.dumps(p) + "\n" for p in body["pairs"])
        options = import_options(body)
    try:
        parsed = parse_pairs_text(text, "the uploaded pairs")
    except EdgeDriftError as exc:
        raise bad(str(exc), "pairs") from None
    return parsed.pairs, options


def import_options(body: dict) -> dict:
    """The fit options of an import body, as `profile fit` takes them: attributes, top_k, solver, beta, replace."""
    from ..attributes import load_attribute_set
    from ..solvers import SOLVERS

    if not isinstance(body.get("replace", False), bool):
        raise bad("replace must be true or false", "replace")
    options: dict = {"replace": body.get("replace", False)}
    if body.get("attributes") is not None:
        if not isinstance(body["attributes"], list) or not all(isinstance(a, str) for a in body["attributes"]):
            raise bad("attributes must be a list of attribute names", "attributes")
        try:
            options["attributes"] = load_attribute_set().select(body["attributes"])
        except EdgeDriftError as exc:
            raise bad(str(exc), "attributes") from None
    if body.get("top_k") is not None:
        check_body_knob("top_k", body["top_k"])
        options["top_k_attributes"] = int(body["top_k"])
    if body.get("solver") is not None:
        if body["solver"] not in SOLVERS:
            raise bad(f"unknown solver {body['solver']!r}; choose one of {', '.join(SOLVERS)}", "solver")
        options["solver"] = body["solver"]
    if body.get("beta") is not None:  # drift's strength kept in the profile, as `profile fit --beta`
        check_body_knob("beta", body["beta"])
        options["beta"] = float(body["beta"])
    return options


def profile_summary(profile) -> dict:
    top = sorted(profile.selected, key=lambda a: -abs(a.weight))
    return {"object": "profile", "user": profile.user, "n_pairs": profile.n_pairs, "solver": profile.solver,
            "cv_accuracy": profile.cv_accuracy, "beta": profile.beta, "top_k": profile.top_k,
            "updated_at": profile.updated_at, "statement": profile.statement,
            "top_attributes": [{"name": a.name, "weight": a.weight} for a in top]}


def _version() -> str:
    from .. import __version__

    return __version__
