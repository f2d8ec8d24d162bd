"""DVC's experiment queue as the sweep's engine: queue a point (`dvc exp run --queue -n NAME
-S ...`), start workers (`dvc queue start -j N`), and read what finished from the
experiment refs DVC writes (`refs/exps/<baseline>/<name>`) and the queue's status (what
`dvc queue status` prints)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from slimline.errors import SlimlineError
from slimline.sweep.grid import Point

# A sweep's workers must not put every point under one pipeline run: each point's
# `dvc exp exec-run` process is its own pipeline (see slimline.lineage.tracking).
_DROP_ENV = ("SLIMLINE_PIPELINE_ID", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_ROOT")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    # The workers run `dvc` and the stages run `python`: this environment's, first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=root, env=_env(), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout)[-2000:]
        raise SlimlineError(f"`{' '.join(args)}` failed:\n{output}")
    return result


def baseline(root: Path) -> str:
    """The commit experiments branch from (HEAD)."""
    result = _run(root, "git", "rev-parse", "HEAD", check=False)
    if result.returncode != 0:
        raise SlimlineError("a sweep needs a git commit to branch experiments from: commit "
                            "the project first (`git add -A && git commit`).")
    return result.stdout.strip()


def built_stages(root: Path, stages: Sequence[str]) -> int:
    """How many of `stages` (in pipeline order) the workspace holds up to date, counting
    from the first (`dvc status`): a queued point that changes none of them reuses them."""
    import json

    result = _run(root, "dvc", "status", "--json", *stages, check=False)
    try:
        changed = json.loads(result.stdout) if result.returncode == 0 else None
    except json.JSONDecodeError:
        changed = None
    if not isinstance(changed, dict):
        return 0  # no dvc.lock yet, or dvc could not tell: build everything in waves
    names = {key.rsplit(":", 1)[-1] for key in changed}
    for count, stage in enumerate(stages):
        if stage in names:
            return count
    return len(stages)


def finished(root: Path, base: str) -> dict[str, str]:
    """Experiments of `base` that DVC has collected: name → experiment commit."""
    prefix = f"refs/exps/{base[:2]}/{base[2:]}/"
    out = _run(root, "git", "for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout
    refs = dict(line.split() for line in out.splitlines() if line.strip())
    return {ref.removeprefix(prefix): sha for ref, sha in refs.items()}


def queue_status(root: Path) -> dict[str, str]:
    """name → Queued / Running / Failed / Success, as `dvc queue status` shows them."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        entries = repo.experiments.celery_queue.status()
    status: dict[str, str] = {}
    for entry in entries:
        # A name queued again after a failure: the live entry wins.
        if entry.get("name") and status.get(entry["name"]) not in ("Queued", "Running"):
            status[entry["name"]] = entry["status"]
    return status


def enqueue(root: Path, point: Point) -> None:
    args = ["dvc", "exp", "run", "--queue", "-n", point.name]
    for override in point.overrides:
        args += ["-S", override]
    _run(root, *args)


def start(root: Path, jobs: int) -> None:
    """`dvc queue start -j N`. Its workers are daemons that keep its stdout and stderr: give
    it a file, not a pipe, or reading the pipe waits for the last worker to exit."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        code = subprocess.run(["dvc", "queue", "start", "-j", str(jobs)], cwd=root, env=_env(),
                              stdin=subprocess.DEVNULL, stdout=out, stderr=out).returncode
        out.seek(0)
        if code != 0:
            raise SlimlineError(f"`dvc queue start -j {jobs}` failed:\n{out.read()[-2000:]}")


def remove(root: Path, names: Iterable[str]) -> None:
    """Drop failed entries so their points can be queued again under the same names."""
    names = list(names)
    if names:
        _run(root, "dvc", "queue", "remove", *names, check=False)


def logs(root: Path, name: str, lines: int = 15) -> str:
    result = _run(root, "dvc", "queue", "logs", name, check=False)
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-lines:])


def read_file(root: Path, commit: str, path: str) -> str | None:
    """A file of an experiment's commit (a `cache: false` output such as registry.json)."""
    result = _run(root, "git", "show", f"{commit}:{path}", check=False)
    return result.stdout if result.returncode == 0 else None
