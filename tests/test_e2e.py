"""The whole pipeline under DVC on a tiny configuration: what a user's `dvc repro` does."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from . import dvc_project as dp
from .dvc_project import SMALL, copy_project, git_commit, ran, run, runs, slimline, store

pytestmark = pytest.mark.slow

PYFUNC_PREDICT = """import mlflow
out = mlflow.pyfunc.load_model("models:/slimline@production").predict(["the"])
assert isinstance(out[0], str)
print(len(out), "completion")
"""


@pytest.fixture(scope="module")
def project(small_pipeline, tmp_path_factory) -> Path:
    """A copy of the session's reproduced pipeline that the tests below change, in order."""
    return copy_project(small_pipeline[0], tmp_path_factory.mktemp("e2e") / "p")


def test_repro_runs_every_stage_and_logs_lineage(small_pipeline):
    project, out = small_pipeline  # read only: other modules copy it
    assert ran(out) == {"data", "base", "prune", "recover", "quantize", "eval@base",
                         "eval@pruned", "eval@recovered", "eval@quantized", "speed",
                         "report", "register"}
    metrics = json.loads((project / "metrics" / "base.json").read_text())
    assert metrics["slimline_heldout"]["word_perplexity"] > 1
    assert 0 <= metrics["slimline_facts_mc"]["acc"] <= 1
    assert metrics["speed"]["decode_tokens_per_s"] > 0 and metrics["size"]["num_parameters"] > 0
    results = json.loads((project / "evals" / "base.json").read_text())
    assert results["device"].startswith("cpu: ")
    assert str(project) not in json.dumps(results)  # paths are project-relative
    base_meta = json.loads((project / "artifacts" / "base" / "slimline.json").read_text())

    all_runs = runs(project)
    mlflow_client = MlflowClient(tracking_uri=store(project))
    artifact_root = mlflow_client.get_experiment_by_name("slimline").artifact_location
    assert artifact_root == (project / "mlruns" / "artifacts").as_uri()
    by_stage = {r.data.tags["slimline.stage"]: r for r in all_runs}
    assert set(by_stage) == {"pipeline", "data", "base", "prune", "recover", "quantize", "eval",
                             "speed", "report", "register"}
    parent = by_stage["pipeline"].info.run_id
    assert len(all_runs) == 13
    assert all(r.data.tags["mlflow.parentRunId"] == parent
               for r in all_runs if r.info.run_id != parent)
    base = by_stage["base"]
    assert base.data.tags["slimline.artifact_digest"] == base_meta["digest"]
    assert base.data.params["model.train.steps"] == "30"
    assert "eval.seq_len" not in base.data.params
    manifest = json.loads((project / "artifacts" / "data" / "manifest.json").read_text())
    for split in manifest["splits"]:
        tag = f"slimline.split.{split['name']}.sha256"
        assert by_stage["data"].data.tags[tag] == split["sha256"]
    data_inputs = {d.dataset.name for d in by_stage["data"].inputs.dataset_inputs}
    assert data_inputs == {"data/calibration", "data/recovery", "data/evaluation", "data/facts"}
    pruned_meta = json.loads((project / "artifacts" / "pruned" / "slimline.json").read_text())
    assert pruned_meta["parent_digest"] == base_meta["digest"]
    assert by_stage["prune"].data.tags["slimline.parent_digest"] == base_meta["digest"]
    assert by_stage["prune"].data.metrics["channels_removed_share"] == 0.25
    evals = {r.data.tags["slimline.eval_target"]: r for r in all_runs
             if r.data.tags["slimline.stage"] == "eval"}
    assert set(evals) == {"base", "pruned", "recovered", "quantized"}
    quantized_meta = json.loads((project / "artifacts" / "quantized" / "slimline.json").read_text())
    calibration = quantized_meta["inputs"]["calibration_tokens"]
    quantize_run = by_stage["quantize"]
    assert quantize_run.data.tags["slimline.calibration_digest"] == calibration
    (calib_input,) = quantize_run.inputs.dataset_inputs
    assert calib_input.dataset.digest == calibration[:36]
    recovered_meta = json.loads((project / "artifacts" / "recovered" / "slimline.json").read_text())
    assert recovered_meta["parent_digest"] == pruned_meta["digest"]
    recover_inputs = [d.dataset.name for d in by_stage["recover"].inputs.dataset_inputs]
    assert recover_inputs == ["data/recovery"]
    curve = json.loads((project / "plots" / "recover_loss.json").read_text())
    assert len(curve) == 5
    report = (project / "reports" / "report.md").read_text()
    assert "| slimline_heldout.word_perplexity | ↓ |" in report
    assert (project / "reports" / "size_vs_quality.png").stat().st_size > 1000
    evaluation = evals["base"]
    assert evaluation.data.tags["slimline.artifact_digest"] == base_meta["digest"]
    assert evaluation.data.metrics["slimline_heldout.word_perplexity"] == pytest.approx(
        metrics["slimline_heldout"]["word_perplexity"], rel=1e-5)
    assert {d.dataset.name for d in evaluation.inputs.dataset_inputs} == {"data/evaluation",
                                                                       "data/facts"}
    # The first stage ran in its own process and started a warm server; the base stage held
    # it open; the stages after it were forked from it (slimline.warm). Each run says which,
    # and how long its entry point took to open it.
    stage_runs = [r for r in all_runs if r.info.run_id != parent]
    assert by_stage["data"].data.tags["slimline.warm"] == "false"
    late = {r.data.tags["slimline.dvc_stage"]: r.data.tags["slimline.warm"] for r in stage_runs
            if r.data.tags["slimline.stage"] not in ("data", "base", "prune")}
    assert set(late.values()) == {"true"}, late
    assert all(r.data.metrics["startup_s"] >= 0 for r in stage_runs)


def test_second_repro_runs_nothing_quickly(project):
    before = len(runs(project))
    out, seconds = run(project, "dvc", "repro")
    assert ran(out) == set()
    assert seconds < 10
    assert len(runs(project)) == before


@pytest.mark.parametrize("section, key, value, expected", [
    # (recover -> everything below it is checked by the harmful-recovery test at the end)
    ("quantize", "num_samples", 4, {"quantize", "eval@quantized", "speed", "report",
                                    "register"}),
])
def test_downstream_param_change_reruns_only_downstream(project, section, key, value,
                                                         expected):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    out, _ = run(project, "dvc", "repro")
    assert ran(out) == expected


def test_dvc_exp_run_composes_hydra_overrides(project):
    run(project, "dvc", "commit", "-f")
    git_commit(project, "run")
    # -S composes conf/ starting from what `slimline compose` chose (conf/choices/).
    out, _ = run(project, "dvc", "exp", "run", "-S", "eval.limit=8")
    assert ran(out) == {"eval@base", "eval@pruned", "eval@recovered", "eval@quantized",
                         "report", "register"}
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["eval"]["limit"] == 8
    assert params["model"]["train"]["steps"] == 30 and params["overrides"] == SMALL


def test_registry_versions_and_lineage_image(project):
    client = dp.client(project)
    name = "slimline"
    versions = client.search_model_versions(f"name = '{name}'")
    digests = [v.tags["slimline.artifact_digest"] for v in versions]
    assert len(digests) == len(set(digests))  # one version per artifact digest
    model = client.get_registered_model(name)
    assert {"base", "pruned", "recovered", "quantized", "candidate"} <= set(model.aliases)
    candidate = client.get_model_version_by_alias(name, "candidate")
    assert candidate.tags["slimline.stage"] == "quantized"
    assert candidate.tags["slimline.dvc_md5"].endswith(".dir")
    assert "Lineage: base v" in candidate.description
    register_run = [r for r in runs(project) if r.data.tags["slimline.stage"] == "register"][0]
    assert client.list_artifacts(register_run.info.run_id, "lineage")[0].path.endswith(".png")
    stage_run = candidate.tags["slimline.stage_run_id"]
    assert [a.path for a in client.list_artifacts(stage_run, "lineage")] == [
        "lineage/lineage.png"]
    registry = json.loads((project / "registry.json").read_text())
    # The last registration was the `dvc exp run` above (composed from conf/, so back to the
    # composed quantize.num_samples): it moved no alias, so @candidate is still this version.
    assert registry["aliases_moved"] is False and registry["candidate"] is None
    assert registry["experiment"] and str(registry["final_version"]) != str(candidate.version)


def test_harmful_recovery_is_refused_bisected_and_rolled_back(project):
    out = slimline(project, "promote", "@candidate", "--git-tag")
    good = dp.client(project).get_model_version_by_alias("slimline", "production")
    assert f"@production → v{good.version}" in out
    # The promotion is visible in git, in DVC's model-registry convention.
    assert f"git tags: quantized@v{good.version}.0.0, quantized#production#1" in out
    params = yaml.safe_load((project / "params.yaml").read_text())
    before = params["recover"]["lr"]
    params["recover"]["lr"] = 0.5  # 250x the default: recovery that damages the model
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    out, _ = run(project, "dvc", "repro")
    assert ran(out) == {"recover", "eval@recovered", "quantize", "eval@quantized", "speed",
                         "report", "register"}
    out = slimline(project, "promote", "@candidate", code=1)
    assert "fails the gates" in out and "FAIL" in out
    out = slimline(project, "bisect", "--good", "@production", "--bad", "@candidate")
    assert "culprit: the recovered stage" in out
    assert f"param recover.lr: {before!r} → 0.5" in out
    slimline(project, "bisect", "--good", "@production", "--bad", "@production", code=3)
    slimline(project, "promote", "@candidate", "--force", "--reason", "e2e")
    out = slimline(project, "rollback")
    assert f"→ v{good.version}" in out
    # artifacts/quantized now holds the damaged model: production loads from the DVC cache,
    # through MLflow's own API (the version's pyfunc manifest) as through `slimline load`.
    out, _ = run(project, "env", f"MLFLOW_TRACKING_URI={store(project)}", sys.executable,
                 "-c", PYFUNC_PREDICT)
    assert "1 completion" in out.splitlines()  # (stderr has llm-compressor's progress bars)
    out = slimline(project, "load", "@production")
    assert "verified" in out
    assert str(project / ".test-cache" / "slimline" / "models") in out


def test_mlflow_models_serve_answers_with_the_production_model(project):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", "models:/slimline@production", "--env-manager",
         "local", "--host", "127.0.0.1", "-p", str(port)], cwd=project,
        env={**dp._env(project), "MLFLOW_TRACKING_URI": store(project)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"inputs": ["the capital of"], "params": {"max_new_tokens": 4}})
        deadline = time.monotonic() + 180
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations", data=body.encode(),
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as response:
                    predictions = json.loads(response.read())["predictions"]
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, "mlflow models serve exited"
                assert time.monotonic() < deadline, "mlflow models serve never answered"
                time.sleep(1)
        assert len(predictions) == 1 and isinstance(predictions[0], str)
    finally:
        server.terminate()
        server.wait(timeout=30)
