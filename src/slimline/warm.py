"""Warm stage start: a DVC stage runs in a process forked from one that has already imported
the libraries every stage imports (torch, transformers, MLflow and its store, lm-eval,
llm-compressor), instead of importing them again in a new interpreter (issue 18).

DVC starts each stage as its own `python pipelines/<stage>.py`; importing those libraries is
seconds of every stage's start. Each entry point calls `hand_off(__name__)` before its
imports. If a warm server for this interpreter and environment is listening, the entry point
sends it its arguments, working directory, environment, umask, niceness, CPU affinity and
standard streams (the descriptors themselves, so output, terminals and pipes behave as
before); the server forks a worker that takes on that state and runs the script as
`__main__`; the entry point waits and exits with the worker's status. Signals the entry
point receives go to the worker's process group, and if the entry point is killed outright
(SIGKILL) so is the worker; a worker killed by a signal makes the entry point die of the
same signal, so DVC sees what it would have seen.

If no server is listening, the entry point starts one in the background and runs its own
stage in its own process as before, holding the server open while it runs; the stages
after it are warm. A server is keyed by what decides what an import does (interpreter,
`sys.path`, the environment without DVC's per-stage variables, the import directories' and
this file's modification times), never holds slimline's own modules for a worker (each
worker imports them fresh from disk), and exits after `SLIMLINE_WARM_IDLE` seconds (default
300) with no stage running. `SLIMLINE_WARM=0` turns all of this off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ENABLE_ENV = "SLIMLINE_WARM"
IDLE_ENV = "SLIMLINE_WARM_IDLE"
WORKER_ENV = "SLIMLINE_WARM_WORKER"  # set in a worker to its own pid
STARTED_ENV = "SLIMLINE_WARM_STARTED"  # in a worker: when its entry point process started
ENTRY_PID_ENV = "SLIMLINE_WARM_ENTRY_PID"  # in a worker: its entry point's pid
IDLE_S = 300.0

# Imported once by the server; one that is not installed (or fails) is left out.
PRELOAD = (
    "numpy", "yaml", "pydantic", "safetensors.torch", "torch",
    "transformers", "transformers.modeling_utils", "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto", "transformers.models.llama.modeling_llama",
    "transformers.models.qwen2.modeling_qwen2",
    "mlflow", "mlflow.tracking", "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "peft", "datasets", "lm_eval", "lm_eval.evaluator", "lm_eval.models.huggingface",
    "llmcompressor", "compressed_tensors", "matplotlib",
)
# Set by DVC for each stage, by the shell, or by MLflow's import (a per-process telemetry
# session); read at call time, never at import time.
_PER_CALL = ("DVC_", "PWD", "OLDPWD", "SHLVL", "_", "_MLFLOW_TELEMETRY_SESSION_ID", WORKER_ENV,
             STARTED_ENV, ENTRY_PID_ENV)
# What the preloaded imports set in the server's environment (torch: KMP_*, TORCHINDUCTOR_*;
# huggingface_hub: HF_XET_*): a worker keeps those the entry point does not set itself, as
# its own imports would have set them.
_IMPORTED_ENV: dict[str, str] = {}
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def enabled() -> bool:
    """On unless `SLIMLINE_WARM=0`, where the system has what it takes (Linux: pidfd_open,
    descriptor passing)."""
    return (os.environ.get(ENABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
            and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds"))


def in_worker() -> bool:
    return os.environ.get(WORKER_ENV) == str(os.getpid())


def entry_pid() -> int:
    """The pid of the process DVC (or whoever) started for this stage: in a worker, the
    entry point waiting for it, whose parents are the stage's (`dvc repro`, a queue worker);
    the worker's own parent is the server."""
    if in_worker() and (pid := os.environ.get(ENTRY_PID_ENV, "")).isdigit():
        return int(pid)
    return os.getpid()


def process_started() -> float | None:
    """When this stage's entry point process started (Unix time; None where the kernel does
    not say): in a worker, the process that handed the stage over, not the fork."""
    if in_worker() and (started := os.environ.get(STARTED_ENV)):
        return float(started)
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, ValueError, StopIteration, IndexError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _import_key() -> str:
    """What decides what the server's imports are: same key, same modules."""
    env = sorted((k, v) for k, v in os.environ.items()
                 if not any(k == p or (p.endswith("_") and k.startswith(p)) for p in _PER_CALL))
    dirs = []
    for entry in sys.path[1:]:
        with contextlib.suppress(OSError):
            dirs.append((entry, os.stat(entry or ".").st_mtime_ns))
    me = os.stat(__file__)
    state = [sys.executable, sys.version, sys.path[1:], env, dirs, me.st_mtime_ns, me.st_size]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:20]


def _socket_path() -> Path:
    return Path(tempfile.gettempdir()) / f"slimline-warm-{os.getuid()}" / f"{_import_key()}.sock"


# --- the entry point's side -------------------------------------------------------------


def hand_off(name: str) -> None:
    """Run this entry point (`__main__`) in a warm worker and exit with its status; return
    when it should run here instead: imported as a module, already a worker, turned off,
    started with interpreter options (`python -X importtime …`, `-m cProfile`: those apply
    to this process), or no server listening yet (one is started for the next stage)."""
    if name != "__main__" or in_worker() or not enabled() or sys.orig_argv[1:] != sys.argv:
        return
    path = _socket_path()
    if path.with_suffix(".off").exists():  # a server of this key could not preload safely
        return
    try:
        conn = _connect(path)
    except OSError:
        conn = None
    if conn is None:
        _start_server(path)
        _hold_once_up(path)
        return
    status = _run_remote(conn)
    if status is not None:
        _exit_like(status)
    # else the server closed before a worker took the stage (it was going idle): run here


def _hold_once_up(path: Path, wait_s: float = 600.0) -> None:
    """While this stage runs in its own process, keep the server that is starting from
    idling out (a first stage can take hours): once it listens, hold a connection to it
    until this process exits. The server forks a worker for it that only waits."""
    import threading
    import time

    def hold() -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if path.with_suffix(".off").exists():
                return
            if (conn := _connect(path)) is not None:
                with contextlib.suppress(OSError):
                    _send(conn, {"hold": True})
                    _wait_closed(conn)
                return
            time.sleep(0.5)

    threading.Thread(target=hold, daemon=True, name="slimline-warm-hold").start()


def _send(conn: socket.socket, request: dict[str, Any], fds: list[int] | None = None) -> None:
    """One request: its length, then its JSON (`_receive` reads it), with `fds` attached."""
    body = json.dumps(request).encode()
    socket.send_fds(conn, [len(body).to_bytes(8, "big") + body], fds or [])


def _wait_closed(conn: socket.socket) -> None:
    """Block until the other end closes `conn` (or it fails)."""
    with contextlib.suppress(OSError):
        while conn.recv(1 << 12):
            pass


def _connect(path: Path) -> socket.socket | None:
    if len(str(path)) > 100 or not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


def _start_server(path: Path) -> None:
    """Start a server for this key in the background (one at a time: a lock next to it)."""
    if len(str(path)) > 100:
        return
    import fcntl

    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        lock = os.open(path.with_suffix(".lock"), os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another entry point is starting it
        os.close(lock)
        return
    # The lock passes to the server, which holds it until it listens (and for its life).
    try:
        with path.with_suffix(".log").open("ab") as log:
            subprocess.Popen([sys.executable, "-P", "-m", "slimline.warm", str(path), str(lock)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             pass_fds=(lock,), start_new_session=True)
    except OSError:
        pass
    finally:
        os.close(lock)


def _descriptor(fd: int) -> int:
    try:
        os.fstat(fd)
        return fd
    except OSError:
        return os.open(os.devnull, os.O_RDWR)


def _run_remote(conn: socket.socket) -> dict[str, int] | None:
    """Send this process's state and streams; forward signals; return the worker's status
    (None if no worker took the stage)."""
    umask = os.umask(0)
    os.umask(umask)
    request = {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
               "started": process_started(), "pid": os.getpid(),
               "ignored": [int(sig) for sig in _SIGNALS if signal.getsignal(sig) == signal.SIG_IGN],
               "nice": os.getpriority(os.PRIO_PROCESS, 0), "cpus": sorted(os.sched_getaffinity(0))}
    try:
        _send(conn, request, [_descriptor(fd) for fd in (0, 1, 2)])
        reader = conn.makefile("rb")
        first = reader.readline()
    except OSError:
        return None
    if not first:
        return None
    pid = json.loads(first)["pid"]

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    for sig in _SIGNALS:
        if signal.getsignal(sig) != signal.SIG_IGN:  # ignored here: ignored there too
            signal.signal(sig, forward)
    try:
        line = reader.readline()
    except OSError:
        line = b""
    return json.loads(line) if line else {"exit": 1, "lost": 1}


def _exit_like(status: dict[str, int]) -> None:
    if status.get("lost"):
        print("error: the warm process running this stage ended without an exit status; "
              f"run again, or with {ENABLE_ENV}=0 to run each stage in its own process",
              file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    if sig := status.get("signal"):
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(status.get("exit", 1))


# --- the server's side ------------------------------------------------------------------


def _preload() -> str | None:
    """Import PRELOAD; return why this process cannot be forked safely, if it cannot."""
    import importlib

    # A library that asks whether CUDA is there at import (llm-compressor does) must not
    # load the CUDA driver here: ask NVML instead, which survives a fork (torch.cuda docs).
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    before = dict(os.environ)
    for module in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    _IMPORTED_ENV.update({k: v for k, v in os.environ.items() if before.get(k) != v})
    return fork_hazard()


def fork_hazard(maps: str | None = None, threads: int | None = None) -> str | None:
    """Why a worker forked from this process could misbehave, or None: a thread running
    (its locks would be copied held; `threads`: how many run), CUDA initialised, or the CUDA
    driver loaded (`maps`: this process's /proc/self/maps) — a driver initialised before a
    fork fails in the child."""
    import threading

    if (threading.active_count() if threads is None else threads) > 1:
        return f"threads running after the imports: {threading.enumerate()}"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "CUDA was initialised by the imports; it does not survive a fork"
    if maps is None:
        with contextlib.suppress(OSError), open("/proc/self/maps") as f:
            maps = f.read()
    if maps and "libcuda.so" in maps:
        return "the CUDA driver was loaded by the imports; it does not survive a fork"
    return None


def serve(path: Path, lock: int, idle_s: float) -> None:
    import select

    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # the lock file names the server
    os.chdir("/")  # hold no project directory open; each worker takes its entry point's
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a dead server's socket (the lock says none is alive)
    if unsafe := _preload():
        path.with_suffix(".off").write_text(unsafe + "\n")  # entry points stop asking
        print(f"not serving: {unsafe}", file=sys.stderr)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staged = path.with_name(path.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    listener.bind(str(staged))
    listener.listen(64)
    os.replace(staged, path)  # connectable only once the imports are done
    ino = path.stat().st_ino
    workers: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    try:
        while True:
            ready, _, _ = select.select([listener, *workers], [], [],
                                        None if workers else idle_s)
            if not ready:  # idle: no new connections; one already queued runs on its own
                _unlink_own(path, ino)
                return
            for fd in ready:
                if fd is listener:
                    conn, _ = listener.accept()
                    sys.stdout.flush()
                    sys.stderr.flush()
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        os.close(lock)
                        for pidfd, (_, other) in workers.items():
                            os.close(pidfd)
                            other.close()
                        _worker(conn)  # never returns
                    workers[os.pidfd_open(pid)] = (pid, conn)
                else:
                    pid, conn = workers.pop(fd)
                    os.close(fd)
                    _, status = os.waitpid(pid, 0)
                    _report(conn, status)
    finally:
        _unlink_own(path, ino)
        listener.close()


def _unlink_own(path: Path, ino: int) -> None:
    """Remove the socket file if it is still this server's (a newer one may have taken it)."""
    with contextlib.suppress(OSError):
        if path.stat().st_ino == ino:
            path.unlink()


def _report(conn: socket.socket, status: int) -> None:
    """The worker's end, for an entry point still waiting (a worker that exited normally
    already said so itself)."""
    message = ({"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status)
               else {"exit": os.waitstatus_to_exitcode(status)})
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")
    conn.close()


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < 8:
        raise ConnectionError("the entry point went away")
    size = int.from_bytes(data[:8], "big")
    body = data[8:]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("the entry point went away")
        body += chunk
    return json.loads(body), fds


def _worker(conn: socket.socket) -> None:
    """Take on the entry point's state, run its script as `__main__`, exit with its status."""
    code, ran = 1, False
    try:
        os.setpgid(0, 0)  # the entry point forwards signals to this group
        request, fds = _receive(conn)
        if request.get("hold"):  # a stage running in its own process keeps the server up
            _wait_closed(conn)
            code = 0
            return
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        with contextlib.suppress(OSError):  # `nice`, `taskset` on the entry point hold here
            os.setpriority(os.PRIO_PROCESS, 0, request["nice"])
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, request["cpus"])
        os.environ.clear()
        os.environ.update({**_IMPORTED_ENV, **request["env"]})
        os.environ[WORKER_ENV] = str(os.getpid())
        if request.get("started") is not None:
            os.environ[STARTED_ENV] = repr(request["started"])
        os.environ[ENTRY_PID_ENV] = str(request["pid"])
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        done = _watch(conn)
        ran = True
        code = _run_script(request["argv"], request.get("ignored", []))
        done.set()
    except ConnectionError:  # the entry point went away before asking for anything
        pass
    except BaseException:  # the server's code failed, not the stage: say so and exit 1
        import traceback

        traceback.print_exc()
    finally:
        if ran:
            with contextlib.suppress(Exception):
                _finalize()
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        os._exit(code)


def _watch(conn: socket.socket) -> Any:
    """Kill this worker's group outright when its entry point disappears before the script
    ends (SIGKILL, the out-of-memory killer), as the stage process itself would have died.
    Returns the event to set once the script has ended."""
    import threading

    done = threading.Event()

    def wait_for_close() -> None:
        _wait_closed(conn)
        if not done.is_set():
            os.killpg(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait_for_close, daemon=True, name="slimline-warm-watch").start()
    return done


def _run_script(argv: list[str], ignored: list[int]) -> int:
    """`python SCRIPT ARGS` in this process: exit code as the interpreter would give it;
    the signals the entry point started with ignored (a queue worker's children ignore
    SIGINT) are ignored here too."""
    import runpy

    for name in [m for m in sys.modules if m == "slimline" or m.startswith("slimline.")]:
        del sys.modules[name]  # this process's copies may be older than the files
    script = os.path.abspath(argv[0])
    sys.argv = list(argv)
    sys.path[0:0] = [os.path.dirname(script)]
    sys.stdout.reconfigure(line_buffering=sys.stdout.isatty())
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in ignored:
        signal.signal(sig, signal.SIG_IGN)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        import traceback

        traceback.print_exc()
        _finalize()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # as Python itself dies of an unhandled ^C
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _finalize() -> None:
    """What interpreter exit does that `os._exit` skips: exit handlers, flushed streams."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def main(argv: list[str]) -> None:
    path, lock = Path(argv[0]), int(argv[1])
    idle = float(os.environ.get(IDLE_ENV) or IDLE_S)
    serve(path, lock, idle)


if __name__ == "__main__":
    main(sys.argv[1:])
