"""`slimline sweep` end to end: a 4-point grid on DVC's queue with two workers, interrupted
and resumed, every point registered once under its lineage, grouped under the sweep's
MLflow run, the frontier written and @candidate on the smallest point passing every gate;
a second invocation runs nothing. The same run is issue 14's concurrency check: queued
experiments on two workers against the embedded SQLite store record every stage run and
registry version exactly once, and nothing hits "database is locked"."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .dvc_project import SMALL, _env, client, compose, copy_project, git_commit, slimline

# Four quantize-only points from the reproduced SMALL project: data, base, prune and
# recover are up to date there, so all four run in one wave on two workers. Fewer
# calibration samples than the reproduced recipe, so no point is the baseline itself (that
# one would run nothing and register nothing of its own). Gate perplexity strictly enough
# that the smallest (4-bit) points may fail while 8-bit ones pass; the test holds whichever
# way they fall.
GRID = ["quantize=gptq,rtn", "quantize.bits=4,8", "quantize.num_samples=4"]
LOCKED = "database is locked"
# The stages a quantize-only point runs; the others are the baseline's.
POINT_STAGES = {"quantize", "eval@quantized", "speed", "register"}


def _versions(project: Path) -> list:
    return client(project).search_model_versions("name = 'slimline'")


def _point_records(project: Path, frontier: dict) -> dict[str, dict]:
    """Each point's registry.json, read from its DVC experiment's commit."""
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                          text=True, check=True).stdout.strip()
    out = {}
    for point in frontier["points"]:
        ref = f"refs/exps/{base[:2]}/{base[2:]}/{point['name']}"
        raw = subprocess.run(["git", "show", f"{ref}:registry.json"], cwd=project,
                             capture_output=True, text=True, check=True).stdout
        out[point["name"]] = json.loads(raw)
    return out


def _interrupted_sweep(project: Path) -> None:
    """Start the sweep, stop it once its first point runs (the queue worker carries on)."""
    log = project / "sweep-1.log"
    # ^C from a terminal: the sweep must not inherit an ignored SIGINT from whatever started
    # this suite (a background job of a non-interactive shell ignores it).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with log.open("w") as out:
            proc = subprocess.Popen(["slimline", "sweep", *GRID, "-j", "2", "--poll", "2"],
                                    cwd=project, env=_env(project), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 900  # queueing four points takes minutes on a busy machine
    while not re.search(r"[1-9] running", log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(1)
    os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGUSR1)  # the sweep dumps its threads' stacks to the log
        time.sleep(5)
        proc.kill()
        pytest.fail(f"the sweep did not exit within 120 s of SIGINT:\n{log.read_text()}")
    assert proc.returncode == 130, log.read_text()
    assert "run the same `slimline sweep` again" in log.read_text()
    # Its MLflow run is closed, not left RUNNING (the resumed sweep reopens it).
    sweep_id = log.read_text().split("sweep ", 1)[1].split(":", 1)[0]
    (run,) = client(project).search_runs(
        [client(project).get_experiment_by_name("slimline").experiment_id],
        f"tags.`slimline.sweep` = '{sweep_id}' and tags.`slimline.stage` = 'sweep'")
    assert run.info.status == "KILLED"


@pytest.mark.slow
def test_sweep_resumes_registers_each_point_once_and_crowns_the_smallest_passing(
        small_pipeline, tmp_path):
    project = copy_project(small_pipeline[0], tmp_path / "proj")
    # The gate is the registry's: no stage depends on it, so nothing is out of date.
    compose(project, [*SMALL, "registry.gates.slimline_heldout.word_perplexity=0.99"])
    git_commit(project, "stricter perplexity gate")
    _interrupted_sweep(project)
    assert "wave 1/1:" in (project / "sweep-1.log").read_text()  # base..recover reused

    out = slimline(project, "sweep", *GRID, "-j", "2", "--poll", "2")
    assert re.search(r"waiting for \d point\(s\) already queued", out), out  # not re-queued
    _check_sweep(project, out.split("sweep ", 1)[1].split(":", 1)[0], out)


def _check_sweep(project: Path, sweep_id: str, out: str) -> None:
    frontier = json.loads((project / "sweeps" / sweep_id / "frontier.json").read_text())
    md = (project / "sweeps" / sweep_id / "frontier.md").read_text()
    assert (project / "sweeps" / sweep_id / "frontier.png").stat().st_size > 0
    points = frontier["points"]
    assert len(points) == 4 and not frontier["not_finished"], frontier
    assert all(f"`{p['name']}`" in md for p in points)
    assert [p["size_bytes"] for p in points] == sorted(p["size_bytes"] for p in points)

    # Every artifact registered once; each point's chain base → … → quantized.
    versions = _versions(project)
    digests = [v.tags["slimline.artifact_digest"] for v in versions]
    assert len(digests) == len(set(digests)), digests
    by_number = {str(v.version): v for v in versions}
    records = _point_records(project, frontier)
    shared = {s: {r["stages"][s]["version"] for r in records.values()}
              for s in ("base", "pruned", "recovered")}
    assert all(len(v) == 1 for v in shared.values()), shared  # built once, reused by all
    for name, record in records.items():
        stages = record["stages"]
        assert record["experiment"] == name and record["aliases_moved"] is False
        quantized = by_number[stages["quantized"]["version"]]
        assert quantized.tags["slimline.parent_version"] == stages["recovered"]["version"]
        assert quantized.tags["slimline.experiment"] == name
        assert by_number[stages["pruned"]["version"]].tags["slimline.parent_version"] == \
            stages["base"]["version"]
    assert len({r["final_version"] for r in records.values()}) == 4
    _check_concurrency(project, records, out)

    # The sweep's run groups each point's pipeline run (and through it, its stage runs).
    c = client(project)
    exp_id = c.get_experiment_by_name("slimline").experiment_id
    sweep_run = c.search_runs([exp_id], f"tags.`slimline.sweep` = '{sweep_id}' and "
                              "tags.`slimline.stage` = 'sweep'")
    assert len(sweep_run) == 1 and sweep_run[0].info.status == "FINISHED"
    run_id = sweep_run[0].info.run_id
    pipelines = c.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{run_id}'")
    assert sorted(r.data.tags["slimline.experiment"] for r in pipelines) == sorted(records)
    # (The reproduced baseline's own register run is not a point's.)
    registers = [r for r in c.search_runs([exp_id], "tags.`slimline.stage` = 'register'")
                 if r.data.tags.get("slimline.experiment") in records]
    assert len(registers) == 4 and {r.data.tags["mlflow.parentRunId"] for r in registers} \
        <= {r.info.run_id for r in pipelines}
    assert any(a.path == "sweep" for a in c.list_artifacts(run_id))

    # @candidate is the smallest point passing every gate, as `slimline promote` judges.
    passing = [p for p in points if p["passed"]]
    if passing:
        best = passing[0]
        assert frontier["winner"] == best["name"]
        candidate = c.get_model_version_by_alias("slimline", "candidate")
        assert str(candidate.version) == best["version"]
        assert f"Sweep: {sweep_id}" in candidate.description
        assert "slimline.experiment_only" not in candidate.tags
        slimline(project, "promote", "@candidate", "--alias", "staging")
        for smaller in points[:points.index(best)]:
            assert "keeps" in slimline(project, "promote", smaller["version"], "--alias",
                                       "staging", code=1)
    else:
        assert frontier["closest_failure"] and "no point passes" in out

    # Once more: everything is recognised, nothing is queued or registered.
    before = (len(versions), len(c.search_runs([exp_id], "")))
    again = slimline(project, "sweep", *GRID, "-j", "2", "--poll", "2")
    assert "wave" not in again and "4/4 done" in again, again
    assert (len(_versions(project)), len(c.search_runs([exp_id], ""))) == before


def _check_concurrency(project: Path, records: dict[str, dict], out: str) -> None:
    """Issue 14: each point's pipeline run and each of its stage runs recorded exactly once,
    every run finished, and no "database is locked" in any point's queue log."""
    c = client(project)
    exp_id = c.get_experiment_by_name("slimline").experiment_id
    every = c.search_runs([exp_id], "", max_results=5000)
    assert {r.info.status for r in every} == {"FINISHED"}, \
        [(r.info.run_name, r.info.status) for r in every if r.info.status != "FINISHED"]
    for name in records:
        pipeline = [r for r in every if r.data.tags.get("slimline.stage") == "pipeline"
                    and r.data.tags.get("slimline.experiment") == name]
        assert len(pipeline) == 1, (name, len(pipeline))
        stages = [r.data.tags["slimline.dvc_stage"] for r in every
                  if r.data.tags.get("mlflow.parentRunId") == pipeline[0].info.run_id]
        assert sorted(stages) == sorted(set(stages)) and set(stages) >= POINT_STAGES, \
            (name, stages)
        log = subprocess.run(["dvc", "queue", "logs", name], cwd=project, env=_env(project),
                             capture_output=True, text=True)
        assert log.returncode == 0 and "Running stage 'quantize'" in log.stdout, log.stderr
        assert LOCKED not in log.stdout + log.stderr, (name, log.stdout[-3000:])
    assert LOCKED not in out
