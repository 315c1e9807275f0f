"""06_serve: the chat's grounded answers over HTTP, for the tools people already use.

    OpenAI   POST /v1/chat/completions ("stream": true -> server-sent events), GET /v1/models
    Ollama   POST /api/chat (NDJSON lines, streamed unless "stream": false), GET /api/tags, GET /api/version

A request carries its whole conversation, as both APIs do, and the server keeps no state: the earlier
user messages replay a fresh ChatSession's decisions (the product in focus, the list just offered),
then the last one is answered as 05_chat answers it: the product's records in the trained prompt, the
refusal banned when code found the product, citations checked, a "did you mean" list when several
products may be meant, "not in the catalog" when none is. The records travel beside the answer, in
`sources` and `productqa` (the chat's --json object) of the response or of the stream's last event, so
plain clients keep working; with sources_in_answer (the default) the chat's Sources block also ends the
answer's text, for the chat UIs that show only the text. "grounded": false asks closed book.

One model, one worker thread: requests wait in a bounded queue (full: 503 with Retry-After), and a
streaming client that goes away stops its generation. Built on FastAPI + uvicorn rather than
llama-cpp-python's own server app, which owns its model and request schema: the retrieval in front
would have to be patched into its routes.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import queue
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from productqa.chat import ChatSession, TemplateCounter, Turn, format_sources, turn_json, warm_prefix
from productqa.chat_format import prompt_messages
from productqa.errors import UserError
from productqa.flags import RANGES
from productqa.served import context_tokens

NAME = "productqa"      # the model name clients ask for (as `ollama create productqa` names it)
MAX_BODY = 1 << 20      # bytes in one request: far more than any context holds
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class BadRequest(Exception):
    """A request the client can fix (or the server cannot take now): its HTTP status and one sentence."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


@dataclass(frozen=True)
class Defaults:
    """What a request does not say: the server's flags."""
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    sources_in_answer: bool = True


@dataclass
class Ask:
    """One chat request, checked."""
    question: str                        # the last user message
    earlier: list[tuple[str, str]]       # (user, the assistant's reply) before it, oldest first
    system: str | None                   # the client's system message (None: the one the model was trained with)
    stream: bool
    grounded: bool
    sources_in_answer: bool
    temperature: float
    top_p: float
    max_tokens: int


@dataclass
class Reply:
    """A finished answer: the turn and the text sent (the answer, then the Sources block when asked)."""
    turn: Turn
    text: str
    notes: list[str] = field(default_factory=list)

    @property
    def finish(self) -> str:
        return "stop" if self.turn.ended or not (self.turn.grounded or self.turn.closed_book) else "length"

    def extra(self) -> dict:
        """The fields a plain client ignores: the records and what code decided."""
        found = turn_json(self.turn)
        return {"sources": found["sources"], "productqa": {**found, "notes": self.notes}}


# --- the stage: load the model and the catalog, serve until Ctrl-C or SIGTERM; the parts follow --------

def serve(model=None, catalog=None, host: str = "127.0.0.1", port: int = 8000, n_ctx: int = 4096,
          threads: int | None = None, k: int = 3, queue_size: int = 16, defaults: Defaults = Defaults(),
          closed_book: bool = False, log_level: str = "info", ready=None) -> int:
    """Load the model and the catalog, listen on host:port until Ctrl-C or SIGTERM; `ready(port)` is
    called once the socket listens (the port the system chose for port 0)."""
    import signal
    import socket

    import uvicorn

    from productqa.catalog import Catalog
    from productqa.served import open_llama, resolve_served

    served = resolve_served(model)
    opened = None if closed_book else Catalog(catalog)  # asked for and unreadable: one sentence, exit 2
    try:
        listener = socket.create_server((host, port))
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port} ({err.strerror}): pass another --port") from None
    llm = open_llama(served, n_ctx=n_ctx, threads=threads)
    worker = app = None
    try:
        engine = Engine(served, llm, opened, k)
        worker = Worker(queue_size)
        app = make_app(engine, worker, defaults)
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5))
        print(f"serving {served.label} as {NAME!r}{'' if opened is None else f' with the catalog {catalog}'}\n"
              f"  OpenAI: http://{host}:{port}/v1   Ollama: http://{host}:{port}   (Ctrl-C stops)", flush=True)
        if ready is not None:
            ready(port)
        # uvicorn shuts down gracefully on Ctrl-C / SIGTERM, then raises the signal again to the handler it
        # found: this one, so that the model and catalog below are closed and the exit status is 0
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[listener])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        if worker is not None:
            worker.stop(app.state.cancel_running if app is not None else lambda: None)
        listener.close()
        llm.close()
        if opened is not None:
            opened.close()
    print("stopped", flush=True)
    return 0


# --- reading a request ---------------------------------------------------------------------------

def _text(content, where: str) -> str:
    """A message's text: a string, or OpenAI's list of parts, all of them text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" and
                                         isinstance(p.get("text"), str) for p in content):
        return "\n".join(p["text"] for p in content)
    raise BadRequest(400, f"{where}'s content must be text (a string, or a list of {{\"type\": \"text\"}} parts): "
                          "this model reads no images or files")


def _number(value, name: str, default, low: float, high: float, integer: bool = False):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
            (integer and value != int(value)) or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise BadRequest(400, f'"{name}" must be {kind} from {low:g} to {high:g}, not {json.dumps(value)}')
    return int(value) if integer else float(value)


def _flag(value, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(400, f'"{name}" must be true or false, not {json.dumps(value)}')
    return value


def parse_ask(data, api: str, defaults: Defaults, n_ctx: int) -> Ask:
    """A request body (OpenAI's or Ollama's shape, `api`) as an Ask; BadRequest names what to fix."""
    if not isinstance(data, dict):
        raise BadRequest(400, 'the request body must be a JSON object with "model" and "messages"')
    model = data.get("model")
    if model not in (None, "", NAME, f"{NAME}:latest"):
        raise BadRequest(404, f"model {json.dumps(model)} is not served here: this server serves {NAME!r} "
                              f"({'GET /v1/models' if api == 'openai' else 'GET /api/tags'})")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, '"messages" must be a non-empty list of {"role", "content"} objects')
    system, turns = [], []
    for number, message in enumerate(messages, 1):
        where = f"message {number}"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise BadRequest(400, f"{where} needs a \"role\" ({', '.join(ROLES)}) and a \"content\"")
        if message.get("images"):
            raise BadRequest(400, f"{where} has images: this model reads text only")
        role, text = ROLES[message["role"]], _text(message.get("content", ""), where)
        if role == "system":
            system.append(text)
        else:
            turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise BadRequest(400, 'the last message must be the question, with "role": "user"')
    question = turns[-1][1].strip()
    if not question:
        raise BadRequest(400, "the last user message is empty: send the question")
    earlier = [(text, turns[i + 1][1] if i + 1 < len(turns) and turns[i + 1][0] == "assistant" else "")
               for i, (role, text) in enumerate(turns[:-1]) if role == "user"]
    if api == "openai":
        sampling, stream_default = data, False
        limit = data.get("max_completion_tokens", data.get("max_tokens"))
        limit_name = "max_completion_tokens" if "max_completion_tokens" in data else "max_tokens"
    else:
        sampling = data.get("options") or {}
        if not isinstance(sampling, dict):
            raise BadRequest(400, '"options" must be an object')
        limit, limit_name, stream_default = sampling.get("num_predict"), "options.num_predict", True
        if limit is not None and limit in (-1, -2):  # Ollama's "no limit" / "fill the context"
            limit = None
    prefix = "" if api == "openai" else "options."
    return Ask(question=question, earlier=earlier, system="\n\n".join(system) if system else None,
               stream=_flag(data.get("stream"), "stream", stream_default),
               grounded=_flag(data.get("grounded"), "grounded", True),
               sources_in_answer=_flag(data.get("sources_in_answer"), "sources_in_answer", defaults.sources_in_answer),
               temperature=_number(sampling.get("temperature"), prefix + "temperature", defaults.temperature,
                                   *RANGES["temperature"][:2]),
               top_p=_number(sampling.get("top_p"), prefix + "top_p", defaults.top_p, *RANGES["top_p"][:2]),
               max_tokens=_number(limit, limit_name, defaults.max_tokens, 1, n_ctx, integer=True))


# --- answering, on the model's thread ------------------------------------------------------------

class _Notes:
    """Where a session's notes go (the chat prints them): kept for the response's `productqa.notes`."""

    def __init__(self):
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines += [line.strip() for line in text.splitlines() if line.strip()]
        return len(text)

    def flush(self) -> None:
        pass


class Engine:
    """The model and the catalog; used from the worker thread only (llama.cpp is not thread-safe)."""

    def __init__(self, served, llm, catalog, k: int = 3):
        self.served, self.llm, self.catalog, self.k = served, llm, catalog, k
        self.count = TemplateCounter(llm)
        self.n_ctx = context_tokens(llm)
        warm_prefix(llm, self.count, served.system_prompt)

    def session(self, ask: Ask, notes: _Notes) -> ChatSession:
        return ChatSession(self.llm, self.catalog, system=ask.system or self.served.system_prompt,
                           temperature=ask.temperature, top_p=ask.top_p, max_tokens=ask.max_tokens, k=self.k,
                           grounded=ask.grounded and self.catalog is not None, out=notes, count=self.count,
                           stop=self.served.family.stops)

    def answer(self, ask: Ask, emit, stop) -> None:
        """Emit ("text", piece) as the answer streams, then ("done", Reply)."""
        notes = _Notes()
        session = self.session(ask, notes)
        tokens = session.count(prompt_messages(ask.question, session.system))
        if tokens > session.prompt_budget():
            raise BadRequest(400, f"the question is {tokens:,} tokens with the system prompt, and this server's "
                                  f"{self.n_ctx:,}-token context keeps {session.prompt_budget():,} for the prompt "
                                  f"(06_serve.py --ctx): shorten it")
        self._replay(session, ask)
        started = time.perf_counter()
        try:
            turn = session.prepare(ask.question)
        except UserError as err:  # a record too long for the context
            raise BadRequest(400, str(err)) from None
        turn.retrieval_s = time.perf_counter() - started
        if turn.grounded or turn.closed_book:
            first = True
            for piece in session.stream(turn, started, stop=stop):
                piece = piece.lstrip() if first else piece
                if piece:
                    first = False
                    emit("text", piece)
            if turn.grounded:
                session.check_citations(turn)
        else:  # a list to pick from, or "not in the catalog": code's text, no model
            turn.first_token_s = turn.retrieval_s
            emit("text", turn.assistant)
        text = turn.assistant
        block = format_sources(turn) if ask.sources_in_answer and session.grounded else ""
        if block:
            text += "\n\n" + block
            emit("text", "\n\n" + block)
        emit("done", Reply(turn, text, notes.lines))

    @staticmethod
    def _replay(session: ChatSession, ask: Ask) -> None:
        """The conversation so far: closed book, its turns as history; grounded, each earlier question's
        decision (the product in focus, the list offered), without generating."""
        if not session.grounded:
            session.turns = [Turn(user, reply, user, closed_book=True) for user, reply in ask.earlier]
            return
        for user, _ in ask.earlier:
            try:
                session.prepare(user.strip())
            except UserError:  # an earlier message too long: it set no product
                session.focus = session.pending = None


class Job:
    """One request's work for the worker, and the events it sends back to the request's event loop."""

    def __init__(self, engine: Engine, ask: Ask, loop: asyncio.AbstractEventLoop):
        self.engine, self.ask, self.loop = engine, ask, loop
        self.events: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()

    def emit(self, kind: str, value) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the request's loop is gone: nobody reads on
            self.cancelled.set()

    def __call__(self) -> None:
        if self.cancelled.is_set():
            return
        try:
            self.engine.answer(self.ask, self.emit, self.cancelled.is_set)
        except BadRequest as err:
            self.emit("error", err)
        except Exception as err:  # noqa: BLE001 - the server lives on; the client gets one sentence
            traceback.print_exc(file=sys.stderr)
            self.emit("error", BadRequest(500, f"the model failed on this request ({type(err).__name__}: {err})"))


class Worker:
    """The one thread that uses the model: jobs run in arrival order; at most `size` wait."""

    def __init__(self, size: int):
        self.size, self.jobs = size, queue.Queue(maxsize=size)
        self.seconds = 1.0  # a recent job's duration: Retry-After's estimate
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="productqa-model", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> None:
        if self.stopping.is_set():
            raise BadRequest(503, "the server is stopping", retry_after=5)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            wait = max(1, math.ceil(self.seconds * (self.size + 1)))
            raise BadRequest(503, f"the server is busy: {self.size} requests are waiting for the model; "
                                  f"try again in about {wait} s", retry_after=wait) from None

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self.jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.stopping.is_set():
                job.cancelled.set()
            started = time.perf_counter()
            job()
            self.seconds = 0.5 * self.seconds + 0.5 * (time.perf_counter() - started)

    def stop(self, running) -> None:
        """Stop taking jobs, stop the one running (`running`: its cancel), wait for the thread."""
        self.stopping.set()
        running()
        self.thread.join(timeout=30)


# --- the HTTP side -------------------------------------------------------------------------------

def _now() -> tuple[int, str]:
    moment = datetime.now(timezone.utc)
    return int(moment.timestamp()), moment.isoformat().replace("+00:00", "Z")


async def _body(request) -> dict:
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_BODY:
        raise BadRequest(413, f"the request is {size:,} bytes; this server takes at most {MAX_BODY:,}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequest(413, f"the request is over {MAX_BODY:,} bytes, the most this server takes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, 'the request body is not JSON: send a JSON object with "model" and "messages"') from None


def make_app(engine: Engine, worker: Worker, defaults: Defaults, created: float | None = None):
    """The FastAPI app: OpenAI's and Ollama's chat routes in front of `engine`, through `worker`."""
    app = FastAPI(title="productqa", summary="grounded answers from the product catalog, with sources")
    created = int(created or time.time())
    jobs: set[Job] = set()

    def error_response(request, err: BadRequest):
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
        if request.url.path.startswith("/api/"):
            body = {"error": str(err)}
        else:
            body = {"error": {"message": str(err), "code": err.status, "param": None,
                              "type": "invalid_request_error" if err.status < 500 else "server_error"}}
        return JSONResponse(body, status_code=err.status, headers=headers)

    @app.exception_handler(BadRequest)
    async def bad_request(request, err: BadRequest):
        return error_response(request, err)

    @app.exception_handler(Exception)
    async def failed(request, err: Exception):
        traceback.print_exception(err, file=sys.stderr)
        return error_response(request, BadRequest(500, f"the server failed on this request ({type(err).__name__})"))

    async def start(request, api: str) -> tuple[Ask, Job, tuple]:
        """Read and check the request, queue it, wait for its first event (an error is raised)."""
        ask = parse_ask(await _body(request), api, defaults, engine.n_ctx)
        job = Job(engine, ask, asyncio.get_running_loop())
        worker.submit(job)
        jobs.add(job)
        try:
            first = await job.events.get()
        except BaseException:
            job.cancelled.set()
            jobs.discard(job)
            raise
        if first[0] == "error":
            jobs.discard(job)
            raise first[1]
        return ask, job, first

    async def events(job: Job, first: tuple):
        """The job's events from the first on, until done or an error; the client gone stops the job."""
        try:
            event = first
            while True:
                yield event
                if event[0] != "text":
                    return
                event = await job.events.get()
        finally:
            job.cancelled.set()
            jobs.discard(job)

    async def finished(job: Job, first: tuple) -> Reply:
        async for kind, value in events(job, first):
            if kind == "error":
                raise value
            if kind == "done":
                return value

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": NAME, "object": "model", "created": created, "owned_by": "productqa",
                                            "productqa": {"served": engine.served.label,
                                                          "catalog": bool(engine.catalog)}}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        ask, job, first = await start(request, "openai")
        ident, (stamp, _) = f"chatcmpl-{uuid.uuid4().hex}", _now()
        base = {"id": ident, "created": stamp, "model": NAME}
        if not ask.stream:
            reply = await finished(job, first)
            return {**base, "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                                 "finish_reason": reply.finish}],
                    "usage": {"prompt_tokens": reply.turn.prompt_tokens, "completion_tokens": reply.turn.tokens,
                              "total_tokens": reply.turn.prompt_tokens + reply.turn.tokens}, **reply.extra()}

        def chunk(delta: dict, finish=None, **extra) -> str:
            choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
            return f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': choices, **extra})}\n\n"

        async def sse():
            yield chunk({"role": "assistant", "content": ""})
            async for kind, value in events(job, first):
                if kind == "text":
                    yield chunk({"content": value})
                elif kind == "done":
                    yield chunk({}, value.finish)
                    yield chunk(None, **value.extra())  # the sources: a last event with no choices
                else:
                    yield f"data: {error_response(request, value).body.decode()}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/tags")
    async def tags():
        served = engine.served
        stamp = datetime.fromtimestamp(served.model.stat().st_mtime, timezone.utc).isoformat().replace("+00:00", "Z")
        return {"models": [{"name": f"{NAME}:latest", "model": f"{NAME}:latest", "modified_at": stamp,
                            "size": served.bytes, "digest": uuid.uuid5(uuid.NAMESPACE_URL, str(served.model)).hex,
                            "details": {"format": "gguf", "family": served.family.template,
                                        "parameter_size": "", "quantization_level": served.form}}]}

    @app.get("/api/version")
    async def version():
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        with contextlib.suppress(PackageNotFoundError):
            return {"version": installed("productqa")}
        return {"version": "0"}

    @app.post("/api/chat")
    async def ollama_chat(request: Request):
        ask, job, first = await start(request, "ollama")
        started = time.perf_counter()

        def final(reply: Reply, content: str) -> dict:
            turn = reply.turn
            return {"model": f"{NAME}:latest", "created_at": _now()[1],
                    "message": {"role": "assistant", "content": content}, "done": True,
                    "done_reason": reply.finish, "total_duration": int((time.perf_counter() - started) * 1e9),
                    "prompt_eval_count": turn.prompt_tokens, "eval_count": turn.tokens,
                    "eval_duration": int(turn.decode_s * 1e9), **reply.extra()}

        if not ask.stream:
            reply = await finished(job, first)
            return final(reply, reply.text)

        async def lines():
            async for kind, value in events(job, first):
                if kind == "text":
                    line = {"model": f"{NAME}:latest", "created_at": _now()[1],
                            "message": {"role": "assistant", "content": value}, "done": False}
                elif kind == "done":
                    line = final(value, "")
                else:
                    line = {"error": str(value)}
                yield json.dumps(line) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    app.state.cancel_running = lambda: [job.cancelled.set() for job in list(jobs)]
    return app


