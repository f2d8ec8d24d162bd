"""Warm stage start (slimline.warm): an entry point hands itself to a process forked from a
server that has the libraries imported, and behaves as if it had run itself: arguments,
directory, environment, streams, exit status, signals in and out, death of either side."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from slimline import warm

from .conftest import REPO

SCRIPT = textwrap.dedent("""
    import json, os, sys
    from slimline.warm import hand_off

    hand_off(__name__)

    import time
    from slimline.warm import entry_pid

    mode = sys.argv[1]
    import signal
    print(json.dumps({"pid": os.getpid(), "worker": os.environ.get("SLIMLINE_WARM_WORKER"),
                      "entry": entry_pid(),
                      "sigint_ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                      "cwd": os.getcwd(), "argv": sys.argv[1:],
                      "stage": os.environ.get("DVC_STAGE"), "torch": "torch" in sys.modules,
                      "slimline_fresh": "slimline.lineage" not in sys.modules}), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    if mode == "exit":
        sys.exit(3)
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "interrupt":
        raise KeyboardInterrupt
    if mode == "sleep":
        with open(sys.argv[2], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(300)
""")


@pytest.fixture(scope="module")
def warm_dir():
    """A directory of its own for this module's servers (short: a socket path has a limit),
    and the servers stopped afterwards."""
    root = Path(tempfile.mkdtemp(prefix="sw", dir="/tmp"))
    (root / "stage.py").write_text(SCRIPT)
    (root / "cwd").mkdir()
    yield root
    for lock in root.glob("tmp/slimline-warm-*/*.lock"):
        pid = lock.read_text().strip()
        if pid.isdigit():
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(int(pid)).kill()
    shutil.rmtree(root, ignore_errors=True)


def _env(root: Path, **extra: str) -> dict[str, str]:
    (root / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(root / "tmp"), warm.IDLE_ENV: "60",
           "PYTHONPATH": str(REPO / "src"), **extra}
    # Set anew for each test (by pytest, and by conftest for the tracking store): one
    # server for the module needs one environment.
    for name in ("PYTEST_CURRENT_TEST", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return env


def _start(root: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(root / "stage.py"), *args], cwd=root / "cwd",
                            env=_env(root, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _call(root: Path, *args: str, **env: str) -> tuple[int, dict, str, int]:
    proc = _start(root, *args, **env)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out.splitlines()[0]), err, proc.pid


@pytest.fixture(scope="module")
def server(warm_dir):
    """The first call runs cold and starts a server; wait until calls run warm."""
    code, seen, _, pid = _call(warm_dir, "ok")
    assert code == 0 and seen["worker"] is None and seen["pid"] == pid
    deadline = time.monotonic() + 180
    while not list(warm_dir.glob("tmp/slimline-warm-*/*.sock")):
        assert time.monotonic() < deadline, [p.read_text() for p in
                                             warm_dir.glob("tmp/slimline-warm-*/*.log")]
        time.sleep(0.2)
    return warm_dir


def test_a_stage_runs_in_a_forked_worker_with_the_callers_state(server):
    code, seen, err, pid = _call(server, "ok", "more", DVC_STAGE="eval@pruned")
    assert code == 0
    assert seen["worker"] == str(seen["pid"]) and seen["pid"] != pid  # another process
    assert seen["entry"] == pid  # whose parents are the stage's (the pipeline's dvc)
    assert seen["torch"]  # forked with the libraries imported
    assert seen["slimline_fresh"]  # slimline's own modules come from disk, not the server
    assert seen["cwd"] == str(server / "cwd")
    assert seen["argv"] == ["ok", "more"]
    assert seen["stage"] == "eval@pruned"  # per-call variables reach the worker
    assert "to stderr" in err


def test_exit_status_is_the_scripts(server):
    assert _call(server, "exit")[0] == 3
    code, seen, err, _ = _call(server, "raise")
    assert seen["worker"] and code == 1
    assert "RuntimeError: boom" in err and "Traceback" in err
    assert _call(server, "interrupt")[0] == -signal.SIGINT  # as Python dies of ^C


def _sleeping(root: Path, name: str) -> tuple[subprocess.Popen, int]:
    marker = root / f"{name}.pid"
    marker.unlink(missing_ok=True)
    proc = _start(root, "sleep", str(marker))
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    worker = int(marker.read_text())
    assert worker != proc.pid
    return proc, worker


def _gone(pid: int, timeout: float = 15) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


def test_a_signal_to_the_entry_point_reaches_the_worker_and_comes_back(server):
    proc, worker = _sleeping(server, "term")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM  # the worker died of it, so does the caller
    assert _gone(worker)


def test_a_signal_ignored_by_the_entry_point_is_ignored_by_the_worker(server):
    """A queue worker's children start with SIGINT ignored; so must the stage's worker."""
    proc = subprocess.Popen([sys.executable, str(server / "stage.py"), "ok"], cwd=server / "cwd",
                            env=_env(server), stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    seen = json.loads(proc.communicate(timeout=120)[0].splitlines()[0])
    assert seen["worker"] and seen["sigint_ignored"]
    proc = subprocess.Popen([sys.executable, str(server / "stage.py"), "ok"], cwd=server / "cwd",
                            env=_env(server), stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = json.loads(proc.communicate(timeout=120)[0].splitlines()[0])
    assert seen["worker"] and not seen["sigint_ignored"]


def test_a_killed_entry_point_takes_its_worker_with_it(server):
    proc, worker = _sleeping(server, "kill")
    proc.kill()  # what the out-of-memory killer or a test does to the stage's process
    proc.communicate(timeout=60)
    assert _gone(worker)


def test_a_killed_worker_kills_the_entry_point_with_the_same_signal(server):
    proc, worker = _sleeping(server, "oom")
    os.kill(worker, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_turned_off_runs_in_its_own_process(server):
    code, seen, _, pid = _call(server, "ok", SLIMLINE_WARM="0")
    assert code == 0 and seen["worker"] is None and seen["pid"] == pid


def test_interpreter_options_keep_the_stage_in_its_own_process(server):
    """`python -X importtime pipelines/x.py` profiles that process: it must run there."""
    proc = subprocess.Popen([sys.executable, "-X", "importtime", str(server / "stage.py"), "ok"],
                            cwd=server / "cwd", env=_env(server), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    seen = json.loads(out.splitlines()[0])
    assert proc.returncode == 0 and seen["worker"] is None and seen["pid"] == proc.pid
    assert "import time:" in err  # the option took effect here


def test_a_stage_running_cold_while_the_server_starts_keeps_it_from_idling_out(warm_dir):
    """The first stage starts the server and runs in its own process, maybe for hours: the
    server must still be there for the second stage, however short its idle time."""
    env = {warm.IDLE_ENV: "1", "HOLD_TEST": "1"}  # a server of its own, idling out at 1 s
    marker = warm_dir / "first.pid"
    first = _start(warm_dir, "sleep", str(marker), **env)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() or not marker.read_text():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert int(marker.read_text()) == first.pid  # cold: no server yet
        sockets = set(warm_dir.glob("tmp/slimline-warm-*/*.sock"))
        while (new := set(warm_dir.glob("tmp/slimline-warm-*/*.sock")) - sockets) == set():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(4)  # four idle times
        code, seen, _, _ = _call(warm_dir, "ok", **env)
        assert code == 0 and seen["worker"]  # still up: the first stage holds it
    finally:
        first.kill()
        first.communicate()
    deadline = time.monotonic() + 30
    while any(p.exists() for p in new):  # and once nothing runs, it goes
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_servers_are_keyed_by_the_environment_but_not_dvcs_per_stage_variables(monkeypatch):
    before = warm._socket_path()
    monkeypatch.setenv("DVC_STAGE", "prune")
    monkeypatch.setenv("DVC_ROOT", "/somewhere")
    assert warm._socket_path() == before
    monkeypatch.setenv("HF_HOME", "/elsewhere")  # read at import time by huggingface_hub
    assert warm._socket_path() != before


def test_a_server_refuses_to_fork_what_a_child_cannot_inherit():
    assert warm.fork_hazard(maps="7f00-7f01 r-xp 0 08:01 1 /usr/lib/libc.so.6\n",
                            threads=1) is None
    driver = "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libcuda.so.550.54\n"
    assert "CUDA driver" in warm.fork_hazard(maps=driver, threads=1)
    assert "threads running" in warm.fork_hazard(maps="", threads=2)
