"""Functions run as Lambda runs them: each in warm processes of its own (execution
environments, see devtools/runtime.py), one invocation at a time per process, a pool
that grows under concurrent invocations up to a limit, the function's timeout enforced by
ending the process, and every process replaced after its code changes."""

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from devtools.intrinsics import NO_VALUE, Stack
from devtools.template import ROOT, function_properties, handler_location, load_template

RUNTIME = Path(__file__).with_name("runtime.py")
DEFAULT_TIMEOUT_SECONDS = 3  # Lambda's defaults where the template says nothing
DEFAULT_MEMORY_MB = 128
INIT_TIMEOUT_SECONDS = 10
# Lambda's account limit is 1,000 environments; a laptop's is a few per function.
DEFAULT_MAX_ENVIRONMENTS = int(os.environ.get("STOCKROOM_MAX_ENVIRONMENTS", "8"))
# Variables a process needs to start at all, taken from the shell; Lambda's own AWS_*
# variables come from the local endpoint (`local_stack.local_aws_environment`).
# STOCKROOM_REQUEST_COUNTS: a folder where each environment counts its AWS requests
# (devtools/runtime.py; `make load` reads them); STOCKROOM_COUNT_READS_OF: the table
# whose keys read it counts one by one. STOCKROOM_PROFILE(_FUNCTION): a folder where the
# environments of one function write their profiles (devtools/runtime.py).
_INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "SYSTEMROOT",
    "VIRTUAL_ENV",
    "STOCKROOM_REQUEST_COUNTS",
    "STOCKROOM_COUNT_READS_OF",
    "STOCKROOM_FAULTS",  # devtools/faults.py
    "STOCKROOM_PROFILE",
    "STOCKROOM_PROFILE_FUNCTION",
)


class FunctionError(Exception):
    """An invocation that ended in an error, in Lambda's shape (errorType, errorMessage)."""

    def __init__(self, shape: dict[str, Any]) -> None:
        super().__init__(f"{shape.get('errorType')}: {shape.get('errorMessage')}")
        self.shape = shape


@dataclass(frozen=True)
class FunctionSpec:
    """What an execution environment of one function needs, read from the template."""

    function: str
    module: str
    attribute: str
    code: Path
    layers: tuple[Path, ...]
    timeout: float
    memory: int
    environment: dict[str, str]
    max_environments: int
    # Folders on the path after the installed packages: the repository's root, for a
    # handler that is not the template's (`handler` below).
    extra_path: tuple[Path, ...] = ()

    @classmethod
    def from_template(
        cls, function: str, stack: Stack, local: dict[str, str], handler: str | None = None
    ) -> "FunctionSpec":
        """The function as the template declares it, with `local`'s variables over the
        template's (what points it at this machine's stand-ins: the AWS endpoint, its
        credentials, the shared cache tier's server); with `handler` (dev only: a
        benchmark's baseline), that handler instead of the template's, a module named
        from the repository's root ("bench.per_order_worker.handler") with the function's
        code folder and layers still first on its path."""
        properties = function_properties(function)
        location = handler_location(function)
        module, attribute = (
            handler.rsplit(".", 1) if handler else (location.module, location.attribute)
        )
        timeout = float(stack.resolve(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS)))
        memory = int(stack.resolve(properties.get("MemorySize", DEFAULT_MEMORY_MB)))
        reserved = stack.resolve(properties.get("ReservedConcurrentExecutions"))
        environment = {
            **{name: os.environ[name] for name in _INHERITED if name in os.environ},
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout)),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "_HANDLER": handler or properties["Handler"],
            "LAMBDA_TASK_ROOT": str(location.folder),
            "PYTHONUNBUFFERED": "1",
            **stack.function_environment(function),
            **local,
        }
        return cls(
            function=function,
            module=module,
            attribute=attribute,
            code=location.folder,
            layers=tuple(layer_folders(function)),
            timeout=timeout,
            memory=memory,
            environment=environment,
            max_environments=(
                int(reserved) if reserved not in (None, NO_VALUE) else DEFAULT_MAX_ENVIRONMENTS
            ),
            extra_path=(ROOT,) if handler else (),
        )

    def folders(self) -> tuple[Path, ...]:
        return (self.code, *self.layers)

    def contains(self, path: Path) -> bool:
        """Whether `path` is part of this function's code or layers."""
        return any(path.is_relative_to(folder) for folder in self.folders())


def layer_folders(function: str) -> list[Path]:
    """The folders of the function's layers that this template builds (a `Ref` to a
    LayerVersion); layers published elsewhere (Powertools) come from the venv."""
    template = load_template()["Resources"]
    folders = []
    for layer in function_properties(function).get("Layers", []):
        name = layer.get("Ref") if isinstance(layer, dict) else None
        if name in template and template[name]["Type"] == "AWS::Serverless::LayerVersion":
            folders.append(ROOT / template[name]["Properties"]["ContentUri"])
    return folders


class _Environment:
    """One execution environment: a runtime process, initialised and waiting."""

    def __init__(self, spec: FunctionSpec, generation: int) -> None:
        self.generation = generation
        self.process = subprocess.Popen(
            [sys.executable, str(RUNTIME), json.dumps(_runtime_spec(spec))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=spec.environment,
            cwd=spec.code,
            text=True,
        )
        assert self.process.stdin and self.process.stdout
        self._requests: IO[str] = self.process.stdin
        self._answers: IO[str] = self.process.stdout
        # {"ready": ...} ends the init phase, which Lambda bounds at 10 seconds.
        ready, _, _ = select.select([self._answers], [], [], INIT_TIMEOUT_SECONDS)
        if not ready or not self._answers.readline():
            self.stop()
            raise FunctionError(
                {
                    "errorType": "Runtime.ExitError" if ready else "Sandbox.Timedout",
                    "errorMessage": f"{spec.function}: the init phase "
                    + ("ended the process" if ready else f"took over {INIT_TIMEOUT_SECONDS} s"),
                }
            )

    def invoke(self, event: Any, timeout: float) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        try:
            self._requests.write(json.dumps({"event": event, "request_id": request_id}) + "\n")
            self._requests.flush()
        except BrokenPipeError:  # the process died while idle (killed from outside)
            return {"error": self._exited(request_id)}
        ready, _, _ = select.select([self._answers], [], [], timeout)
        if not ready:
            self.stop()
            return {
                "error": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                    f"{timeout:.2f} seconds",
                }
            }
        line = self._answers.readline()
        if not line:  # the process died: os._exit, a crash, out of memory
            return {"error": self._exited(request_id)}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _exited(self, request_id: str) -> dict[str, str]:
        code = self.process.wait()
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
            f"exit status {code}",
        }

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        for pipe in (self._requests, self._answers):
            with contextlib.suppress(OSError):  # a pipe the process broke by dying
                pipe.close()


def _runtime_spec(spec: FunctionSpec) -> dict[str, Any]:
    return {
        "function": spec.function,
        "module": spec.module,
        "attribute": spec.attribute,
        "code": str(spec.code),
        "layers": [str(folder) for folder in spec.layers],
        "extra_path": [str(folder) for folder in spec.extra_path],
        "timeout": spec.timeout,
        "memory": spec.memory,
    }


@dataclass(frozen=True)
class Invocation:
    """What one invocation did, for an observer (the local stack's metrics): the
    runtime's answer (its result or error, the EMF documents printed, whether it was
    the environment's first), how long it ran, and whether it first waited for an
    environment at the pool's limit (where Lambda would have throttled it)."""

    function: str
    event: Any
    answer: dict[str, Any]
    seconds: float
    throttled: bool


type Observer = Callable[[Invocation], None]


class FunctionPool:
    """A function's execution environments: reused when idle, added under concurrent
    invocations up to `max_environments` (then invocations wait, as throttled ones
    would be retried), replaced after a timeout, a crash or a code change. `observe`
    is told of each invocation."""

    def __init__(self, spec: FunctionSpec, observe: Observer | None = None) -> None:
        self.spec = spec
        self.observe = observe
        self._idle: list[_Environment] = []
        self._count = 0
        self._generation = 0
        self._changed = threading.Condition()

    @property
    def size(self) -> int:
        return self._count

    def invoke(self, event: Any) -> Any:
        """The function's result; raises FunctionError for an error or a timeout."""
        environment, throttled = self._acquire()
        started = time.perf_counter()
        try:
            answer = environment.invoke(event, self.spec.timeout)
        finally:
            self._release(environment)
        if self.observe:
            seconds = time.perf_counter() - started
            self.observe(Invocation(self.spec.function, event, answer, seconds, throttled))
        if "error" in answer:
            raise FunctionError(answer["error"])
        return answer.get("result")

    def warm(self) -> None:
        """Starts one environment ahead of the first invocation, if none is idle."""
        with self._changed:
            if self._idle or self._count >= self.spec.max_environments:
                return
            self._count += 1
            generation = self._generation
        try:
            environment = self._start(generation)
        except FunctionError:
            return  # the first invocation reports it
        self._release(environment)

    def reload(self) -> None:
        """New code: idle environments stop now, busy ones when their invocation ends."""
        with self._changed:
            self._generation += 1
            retired, self._idle = self._idle, []
            self._count -= len(retired)
            self._changed.notify_all()
        for environment in retired:
            environment.stop()

    def close(self) -> None:
        self.reload()

    def _acquire(self) -> tuple[_Environment, bool]:
        """An environment, and whether the pool's limit made the invocation wait."""
        dead = []
        throttled = False
        with self._changed:
            while True:
                while not self._idle and self._count >= self.spec.max_environments:
                    throttled = True
                    self._changed.wait()
                if not self._idle:
                    break
                environment = self._idle.pop()
                if environment.alive():
                    return environment, throttled
                dead.append(environment)  # ended from outside while idle: replace it
                self._count -= 1
            self._count += 1
            generation = self._generation
        for environment in dead:
            environment.stop()
        return self._start(generation), throttled

    def _start(self, generation: int) -> _Environment:
        try:
            return _Environment(self.spec, generation)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _release(self, environment: _Environment) -> None:
        with self._changed:
            keep = environment.alive() and environment.generation == self._generation
            if keep:
                self._idle.append(environment)
            else:
                self._count -= 1
            self._changed.notify()
        if not keep:
            environment.stop()


def invoke_logged(pool: FunctionPool, trigger: str, event: Any) -> Any:
    """`pool.invoke`, with the one line per invocation the local stack prints."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        result = pool.invoke(event)
    except FunctionError as error:
        outcome = f"error {error.shape.get('errorType')}"
        raise
    else:
        if isinstance(result, dict) and "statusCode" in result:
            outcome = str(result["statusCode"])
        return result
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        print(
            f"[invoke] {pool.spec.function} {trigger} {elapsed:.1f} ms {outcome}",
            file=sys.stderr,
            flush=True,
        )
