"""A stage killed with SIGKILL leaves its MLflow run RUNNING; the next stage run marks it
(and its pipeline run) KILLED, and leaves runs of live processes alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

from slimline.lineage.tracking import stage_run
from tests.bad_input._project import make_project

STAGE = textwrap.dedent("""
    import time
    from slimline.lineage.tracking import stage_run

    with stage_run("data", params={}, experiment="slimline") as run:
        print("RUN", run.run_id, run.parent_run_id, flush=True)
        time.sleep(600)
""")


@pytest.fixture
def project(tmp_path, monkeypatch):
    make_project(tmp_path)
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "killed-pipeline")
    return tmp_path


def _status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


def _start_stage() -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([sys.executable, "-c", STAGE], stdout=subprocess.PIPE, text=True)
    line = ""
    while not line.startswith("RUN "):  # the stage may print notices first
        line = proc.stdout.readline()
        assert line, "the stage ended before it started its run"
    _, run_id, parent = line.split()
    return proc, run_id, parent


def test_the_next_stage_marks_a_killed_stages_run(project, monkeypatch):
    monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "live-pipeline")
    live, live_run, _ = _start_stage()
    try:
        monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "killed-pipeline")
        killed, killed_run, killed_parent = _start_stage()
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        assert _status(killed_run) == "RUNNING"  # what MLflow is left with

        monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "next-pipeline")
        with stage_run("data", params={}, experiment="slimline") as run:
            pass
        assert _status(killed_run) == "KILLED" and _status(killed_parent) == "KILLED"
        assert _status(live_run) == "RUNNING"  # its process still works
        assert _status(run.run_id) == "FINISHED"
    finally:
        os.kill(live.pid, signal.SIGKILL)
        live.wait()
