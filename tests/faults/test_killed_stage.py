"""A real pipeline stage killed with SIGKILL mid-way (as the out-of-memory killer does), during
recovery training, quantization and registration, one after the other on one project:

- the killed stage leaves no artifact DVC accepts (its output is not committed: `dvc status`
  still lists the stage) and the previous artifact intact;
- its temporary directory is gone after the next run, its MLflow run is marked KILLED by the
  next stage run instead of staying RUNNING, and no registry version is half made (every
  version carries its lineage tags and description; each artifact is registered once);
- the next `dvc repro` completes.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from .. import dvc_project as dp
from ..dvc_project import SMALL, compose, copy_project, ran, run

pytestmark = pytest.mark.slow

# Each kill, in order on one project: the stage; overrides that make it run again and last
# long enough to be killed mid-way; those of the next run (new values each time, so DVC's run
# cache cannot restore the stage instead of running it); the artifact whose temporary sibling
# shows the stage is writing it (registration: a first new version exists). The last kill
# re-runs recovery and quantization, so registration has two new versions to make.
KILLS = [
    ("recover", ["recover.steps=2000"], ["recover.steps=6"], "recovered"),
    ("quantize", ["recover.steps=6", "quantize.seed=1"], ["recover.steps=6", "quantize.seed=1"],
     "quantized"),
    ("register", ["recover.steps=7", "quantize.seed=2"], ["recover.steps=7", "quantize.seed=2"],
     None),
]
VERSION_TAGS = ("slimline.stage", "slimline.artifact_digest", "slimline.parent_version",
                "slimline.model_id", "slimline.base_digest")


def _db(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / "mlruns" / "mlflow.db", timeout=30)


def _running_stage_runs(project: Path, stage: str) -> list[str]:
    with _db(project) as db:
        return [r for (r,) in db.execute(
            "select runs.run_uuid from runs join tags on runs.run_uuid = tags.run_uuid "
            "where runs.status = 'RUNNING' and tags.key = 'slimline.stage' "
            "and tags.value = ?", (stage,))]


def _version_count(project: Path) -> int:
    with _db(project) as db:
        return db.execute("select count(*) from model_versions").fetchone()[0]


def _stage_process(repro: psutil.Process, stage: str) -> psutil.Process | None:
    """The Python process running `stage`, as the out-of-memory killer would pick it: not
    the `sh -c` DVC may start it through (dash, /bin/sh when SHELL is unset, does not exec
    its command; killing the shell would orphan the stage and let it finish)."""
    matches = []
    for child in repro.children(recursive=True):
        try:
            if f"pipelines/{stage}.py" in " ".join(child.cmdline()):
                matches.append(child)
        except psutil.NoSuchProcess:
            continue
    pids = {m.pid for m in matches}
    for m in matches:
        try:
            if not any(c.pid in pids for c in m.children(recursive=True)):
                return m
        except psutil.NoSuchProcess:
            continue
    return None


def _mid_way(project: Path, stage: str, output: str | None, versions_before: int) -> bool:
    """True once `stage` is doing its work: writing its artifact (a temporary directory next
    to it), or, for registration, inside its run with a first new version made."""
    if output is not None:
        return any(project.joinpath("artifacts").glob(f".{output}.*.tmp"))
    return bool(_running_stage_runs(project, stage)) and _version_count(project) > versions_before


def _kill_mid_way(project: Path, stage: str, output: str | None) -> tuple[str, str]:
    """Run `dvc repro`, SIGKILL `stage`'s process once it is mid-way; return dvc's output
    and the killed stage's MLflow run id."""
    versions = _version_count(project)
    log = project / f"repro-{stage}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["dvc", "repro"], cwd=project, env=dp._env(project),
                                stdout=out, stderr=subprocess.STDOUT)
    repro = psutil.Process(proc.pid)
    deadline = time.monotonic() + 600
    try:
        while not _mid_way(project, stage, output, versions):
            assert proc.poll() is None, f"dvc repro ended before {stage} was killed:\n" \
                                        f"{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        victim = _stage_process(repro, stage)
        assert victim is not None, log.read_text()
        victim.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, log.read_text()
    (killed,) = _running_stage_runs(project, stage)  # what MLflow is left with
    return log.read_text(), killed


def _model_name(project: Path) -> str:
    return yaml.safe_load((project / "params.yaml").read_text())["registry"]["model_name"]


def _versions(project: Path) -> list:
    return dp.client(project).search_model_versions(f"name = '{_model_name(project)}'")


def _assert_versions_whole(project: Path, described: bool = True) -> None:
    versions = _versions(project)
    by_number = {str(v.version): v for v in versions}
    for v in versions:
        missing = [t for t in VERSION_TAGS if t not in v.tags]
        assert not missing, f"version {v.version} is half made: no {missing}"
        parent = v.tags["slimline.parent_version"]
        assert parent == "" or parent in by_number, f"v{v.version}'s parent v{parent} is gone"
        # A description names its version, so it is written just after the version exists.
        assert v.description or not described, f"version {v.version} has no description"
    digests = [v.tags["slimline.artifact_digest"] for v in versions]
    assert len(digests) == len(set(digests)), "an artifact was registered twice"


@pytest.fixture(scope="module")
def project(small_pipeline, tmp_path_factory) -> Path:
    return copy_project(small_pipeline[0], tmp_path_factory.mktemp("killed") / "p")


@pytest.mark.parametrize(("stage", "overrides", "then", "output"), KILLS,
                         ids=[k[0] for k in KILLS])
def test_a_stage_killed_mid_way_leaves_nothing_half_made(project, stage, overrides, then,
                                                         output):
    compose(project, [*SMALL, *overrides])
    before = {p.name: p.stat().st_ino for p in (project / "artifacts").glob(f"{output}/*")
              } if output else {}
    out, killed = _kill_mid_way(project, stage, output)
    assert f"Running stage '{stage}'" in out

    # Nothing DVC accepts: the stage is still to be run, and its output is either gone (DVC
    # removes a stage's outputs before running it) or the previous one, never a partial one.
    status, _ = run(project, "dvc", "status", stage)
    assert stage in status and "changed" in status, status
    if output:
        after = {p.name: p.stat().st_ino for p in (project / "artifacts" / output).glob("*")}
        assert after in ({}, before)
        assert list((project / "artifacts").glob(f".{output}.*.tmp"))  # what SIGKILL left
    _assert_versions_whole(project, described=False)

    # The next run cleans up, closes the killed run and completes.
    compose(project, [*SMALL, *then])
    out, _ = run(project, "dvc", "repro")
    assert stage in ran(out)
    assert not [p for p in (project / "artifacts").iterdir() if p.name.startswith(".")]
    assert dp.client(project).get_run(killed).info.status == "KILLED"
    assert not _running_stage_runs(project, stage)
    _assert_versions_whole(project)
    candidate = dp.client(project).get_model_version_by_alias(_model_name(project),
                                                              "candidate")
    assert candidate.tags["slimline.stage"] == "quantized"
    status, _ = run(project, "dvc", "status")
    assert "changed" not in status, status
