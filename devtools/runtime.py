"""One warm execution environment of a function, as a process of its own: the local
stack's twin of Lambda's Python runtime. Started as a script (not `-m`), so the function
sees only what Lambda would put on its path: its code folder (/var/task) and its layers
(/opt/python), then the interpreter's packages (and, after them, the repository's root for
a handler the local stack was told to run instead of the template's: a benchmark's
baseline, STOCKROOM_HANDLER_OVERRIDES).

    python devtools/runtime.py '<spec JSON>'

The spec names the handler, the folders and the limits. The handler module is imported
once (Lambda's init); then each line on stdin is one invocation (an event and a request
id), answered by one line on the original stdout: {"result": ...} or {"error": {...}} in
Lambda's error shape, with "emf" (the embedded metric format documents the invocation
printed, which CloudWatch would have read from its log) and "cold" (the environment's
first invocation). Anything else the function prints goes to stderr, so it cannot
corrupt the answers.
"""

import importlib
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A synchronous invocation's response payload limit.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
PARENT_CHECK_SECONDS = 0.5


def _too_large(size: int) -> dict[str, Any]:
    return {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": f"Response payload size ({size} bytes) exceeded maximum allowed "
        f"payload size ({MAX_RESPONSE_BYTES} bytes).",
    }


class LocalContext:
    """The Lambda context object: identity, limits and the time left."""

    def __init__(
        self, function: str, timeout_seconds: float, memory_mb: int = 512, request_id: str = ""
    ) -> None:
        self.function_name = function
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{function}"
        self.aws_request_id = request_id or os.urandom(16).hex()
        self.log_group_name = f"/aws/lambda/{function}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class EmfTap(io.TextIOBase):
    """sys.stdout for the function: each whole line that is an embedded metric format
    document (a JSON object with "_aws") is kept for the answer; any other line goes on
    to `stream`. Lines are put together per thread (print() writes a line's newline
    apart), so threads printing at once cannot splice one line into another."""

    def __init__(self, stream: io.TextIOBase | Any) -> None:
        self.stream = stream
        self.documents: list[dict[str, Any]] = []
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()  # a function's threads print too

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        thread = threading.get_ident()
        with self._lock:
            *lines, rest = (self._partial.pop(thread, "") + text).split("\n")
            if rest:
                self._partial[thread] = rest
            for line in lines:
                document = _emf(line)
                if document is None:
                    self.stream.write(line + "\n")
                else:
                    self.documents.append(document)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def take(self) -> list[dict[str, Any]]:
        """The documents printed since the last call."""
        with self._lock:
            taken, self.documents = self.documents, []
        return taken


def _emf(line: str) -> dict[str, Any] | None:
    if '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return document if isinstance(document, dict) and "_aws" in document else None


def error_shape(error: BaseException) -> dict[str, Any]:
    """An unhandled exception as Lambda reports it."""
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def exit_with_parent(parent: int) -> None:
    """Ends this process once the one that started it has gone: a stack killed outright
    stops no environment, and one busy in an invocation reads no end of its stdin. (The
    kernel's parent-death signal would follow the starting thread, and the stack starts
    environments from short-lived ones.)"""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def main(spec: dict[str, Any]) -> None:
    # Ctrl-C reaches the whole process group; the local stack stops its environments.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() and loggers writing to stdout now reach stderr
    tap = EmfTap(sys.stdout)  # before the handler's loggers take sys.stdout
    sys.stdout = tap
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path[:0] = [spec["code"], *spec["layers"]]
    sys.path += spec.get("extra_path", [])  # a handler not the template's (dev only)
    counts_folder = os.environ.get("STOCKROOM_REQUEST_COUNTS")
    save_counts = _count_requests(Path(counts_folder), spec["function"]) if counts_folder else None
    if os.environ.get("STOCKROOM_FAULTS"):  # devtools/faults.py, by path: devtools is off it
        _module_at(here / "faults.py").install(os.environ["STOCKROOM_FAULTS"])
    profile = _Profile.wanted(spec["function"])
    try:
        handler = getattr(importlib.import_module(spec["module"]), spec["attribute"])
    except Exception as error:  # Lambda's Runtime.ImportModuleError, reported per request
        init_error: dict[str, Any] | None = error_shape(error)
        traceback.print_exc()
    else:
        init_error = None
    answers.write(json.dumps({"ready": init_error is None}) + "\n")
    answers.flush()
    cold = True
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        if init_error is not None:
            answer = {"error": init_error}
        else:
            context = LocalContext(
                spec["function"], spec["timeout"], spec["memory"], request["request_id"]
            )
            cpu_before = time.process_time()
            try:
                answer = {"result": handler(request["event"], context)}
            except Exception as error:
                traceback.print_exc()
                answer = {"error": error_shape(error)}
            cpu_seconds = time.process_time() - cpu_before
        observed = {"emf": tap.take(), "cold": cold}
        cold = False
        try:
            reply = json.dumps(answer | observed)
            if len(reply) > MAX_RESPONSE_BYTES:
                reply = json.dumps({"error": _too_large(len(reply))} | observed)
        except (TypeError, ValueError) as error:  # Lambda's Runtime.MarshalError
            reply = json.dumps(
                {"error": {**error_shape(error), "errorType": "Runtime.MarshalError"}} | observed
            )
        if save_counts:
            save_counts(cpu_seconds if init_error is None else 0.0)
        if profile:
            profile.invoked()
        answers.write(reply + "\n")
        answers.flush()
    if profile:
        profile.save()


class _Profile:
    """The environment under pyinstrument, for `make profile` and `make load`'s
    --profile-worker: STOCKROOM_PROFILE names a folder, STOCKROOM_PROFILE_FUNCTION the
    function. The init and the first invocation are the cold profile; the later ones add
    up to the warm profile, written to <folder>/<function>-<pid>-{cold,warm}.{html,txt}
    at the end of input and at most every SAVE_SECONDS meanwhile (a load run's
    environments are killed, not ended)."""

    SAVE_SECONDS = 10.0

    @classmethod
    def wanted(cls, function: str) -> "_Profile | None":
        folder = os.environ.get("STOCKROOM_PROFILE")
        if not folder or os.environ.get("STOCKROOM_PROFILE_FUNCTION") != function:
            return None
        return cls(Path(folder) / f"{function}-{os.getpid()}")

    def __init__(self, prefix: Path) -> None:
        from pyinstrument import Profiler

        self.prefix = prefix
        self.warm = Profiler(interval=0.0005, async_mode="disabled")
        self.profiler = Profiler(interval=0.0005, async_mode="disabled")
        self.profiler.start()  # the init, then the first invocation: cold
        self.cold = True
        self.saved = time.monotonic()

    def invoked(self) -> None:
        self.profiler.stop()
        if self.cold:
            self._write(self.profiler, "cold")
            self.cold, self.profiler = False, self.warm
        elif time.monotonic() - self.saved > self.SAVE_SECONDS:
            self.save()
        self.profiler.start()

    def save(self) -> None:
        if self.profiler.is_running:
            self.profiler.stop()
        if not self.cold and self.warm.last_session:
            self._write(self.warm, "warm")
        self.saved = time.monotonic()

    def _write(self, profiler: Any, kind: str) -> None:
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{self.prefix}-{kind}.html").write_text(profiler.output_html())
        Path(f"{self.prefix}-{kind}.txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False)
        )


def _module_at(path: Path) -> Any:
    """The module in the file at `path`, imported under its file's name."""
    import importlib.util

    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    assert module_spec is not None and module_spec.loader is not None, path
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _count_requests(folder: Path, function: str) -> Callable[[float], None]:
    """Counts every AWS request this environment sends (each attempt: retries are
    billed too), by service and operation, whatever client or session sends it; returns
    what counts an invocation and its CPU time (`runtime.Invocations`,
    `runtime.CpuMilliseconds`) and saves the counts so far to
    folder/<function>-<pid>.json. For load tests only: it imports botocore before the
    handler does."""
    import threading
    from collections import Counter

    from botocore.endpoint import Endpoint

    counts: Counter[str] = Counter()
    lock = threading.Lock()
    send = getattr(Endpoint, "_send")  # noqa: B009  # private, untyped in the stubs
    watched = os.environ.get("STOCKROOM_COUNT_READS_OF")

    def counted(endpoint: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target")  # JSON protocols: "Service.Operation"
        operation = target.decode().rsplit(".", 1)[-1] if target else request.method
        reads = _keys_read(operation, request.body, watched) if watched else []
        with lock:
            counts[f"{endpoint._endpoint_prefix}.{operation}"] += 1
            counts.update(f"reads.{key}" for key in reads)
        return send(endpoint, request)

    setattr(Endpoint, "_send", counted)  # noqa: B010
    file = folder / f"{function}-{os.getpid()}.json"

    def save(cpu_seconds: float) -> None:
        with lock:
            counts["runtime.Invocations"] += 1
            counts["runtime.CpuMilliseconds"] += round(cpu_seconds * 1000)
            snapshot = dict(counts)
        partial = file.with_suffix(".partial")
        partial.write_text(json.dumps(snapshot))
        partial.replace(file)

    return save


def _keys_read(operation: str, body: bytes | str | None, table: str) -> list[str]:
    """The keys of `table` a GetItem or BatchGetItem asks for (each key's first value),
    so a load test can tell how often each item was read: STOCKROOM_COUNT_READS_OF names
    the table."""
    if operation not in ("GetItem", "BatchGetItem") or not body:
        return []
    request = json.loads(body)
    if operation == "GetItem":
        keys = [request["Key"]] if request.get("TableName") == table else []
    else:
        keys = request.get("RequestItems", {}).get(table, {}).get("Keys", [])
    return [next(iter(next(iter(key.values())).values())) for key in keys]


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
