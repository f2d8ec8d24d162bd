"""The pipeline against a real `mlflow server` on localhost (SQLite backend, artifacts served by
the server), and that server stopped mid-pipeline: the stage fails naming the URI, nothing is
half registered, and once the server is back `dvc repro` resumes where it stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from mlflow.tracking import MlflowClient

from .. import dvc_project as dp
from ..dvc_project import SMALL, compose, copy_project, ran

pytestmark = pytest.mark.slow

# A stage waits this little for a server that went away (MLflow's default retries take
# minutes, which suits a busy server, not a test).
RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
           "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mlflow server` with a database backend and served artifacts, in its own directory."""

    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "server.log").open("a")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}",
             "--artifacts-destination", str(self.root / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, (self.root / "server.log").read_text()[-3000:]
            try:
                if requests.get(f"{self.uri}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(small_pipeline, tmp_path_factory) -> Path:
    return copy_project(small_pipeline[0], tmp_path_factory.mktemp("served") / "p")


def _run(project: Path, server: Server, *args: str, code: int = 0) -> str:
    env = {**dp._env(project), "MLFLOW_TRACKING_URI": server.uri, **RETRIES}
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def _model_name(project: Path) -> str:
    return yaml.safe_load((project / "params.yaml").read_text())["registry"]["model_name"]


def _versions(server: Server, project: Path) -> list:
    return server.client().search_model_versions(f"name = '{_model_name(project)}'")


def test_the_pipeline_records_and_registers_on_a_tracking_server(project, server):
    local = project / "mlruns" / "mlflow.db"
    before = local.stat().st_mtime_ns
    out = _run(project, server, "dvc", "repro", "-f")
    assert {"data", "base", "prune", "recover", "quantize", "register"} <= ran(out)
    assert local.stat().st_mtime_ns == before  # nothing went to the project's own store
    versions = _versions(server, project)
    assert sorted(v.tags["slimline.stage"] for v in versions) == sorted(
        ["base", "pruned", "recovered", "quantized"])
    client = server.client()
    candidate = client.get_model_version_by_alias(_model_name(project), "candidate")
    assert candidate.tags["slimline.stage"] == "quantized"
    # Artifacts went through the server to its artifact store.
    run = client.get_run(candidate.tags["slimline.stage_run_id"])
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert client.list_artifacts(run.info.run_id)
    assert any((server.root / "artifacts").rglob("*")), "nothing in the served artifact store"
    out = _run(project, server, "slimline", "load", "@candidate")
    assert candidate.tags["slimline.artifact_digest"][:12] in out


def test_a_server_stopped_mid_pipeline_fails_clearly_and_resumes(project, server):
    compose(project, [*SMALL, "quantize.seed=1"])
    versions = {str(v.version) for v in _versions(server, project)}
    env = {**dp._env(project), "MLFLOW_TRACKING_URI": server.uri, **RETRIES}
    log = project / "repro-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["dvc", "repro"], cwd=project, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not any((project / "artifacts").glob(".quantized.*.tmp")):  # quantizing
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    server.stop()
    assert proc.wait(timeout=600) != 0
    out = log.read_text()
    assert f"MLFLOW_TRACKING_URI={server.uri}" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "register" not in ran(out)

    server.start()  # the same database and artifact store
    assert {str(v.version) for v in _versions(server, project)} == versions  # nothing half made
    out = _run(project, server, "dvc", "repro")
    assert "quantize" in ran(out) and "register" in ran(out)
    assert not ({"data", "base", "prune", "recover"} & ran(out))
    client = server.client()
    stuck = client.search_runs(
        [client.get_experiment_by_name("slimline").experiment_id],
        filter_string="attributes.status = 'RUNNING'")
    assert not stuck, [r.data.tags.get("slimline.stage") for r in stuck]
    new = [v for v in _versions(server, project) if str(v.version) not in versions]
    assert [v.tags["slimline.stage"] for v in new] == ["quantized"]
    assert client.get_model_version_by_alias(_model_name(project), "candidate").version == \
        new[0].version
