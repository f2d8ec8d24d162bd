"""The whole pipeline under DVC on a tiny configuration: what a user's `dvc repro` does."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from slimline.config import compose

from .conftest import REPO

pytestmark = pytest.mark.slow

SMALL = ["model.vocab_size=384", "model.hidden_size=64", "model.intermediate_size=128",
         "model.num_hidden_layers=2", "model.max_position_embeddings=64",
         "model.train.steps=30", "model.train.seq_len=64", "model.train.batch_size=16",
         "data.calibration.num_docs=16", "data.recovery.num_docs=64", "eval.seq_len=64",
         "eval.limit=16", "eval.speed.prompt_tokens=16", "eval.speed.new_tokens=8",
         "eval.speed.repeats=1", "prune.round_to=32", "prune.num_batches=2",
         "recover.steps=5", "recover.batch_size=4", "recover.seq_len=64",
         "quantize.group_size=32", "quantize.num_samples=8", "quantize.seq_len=32",
         # A 30-step model is far from saturated: gate on large losses only.
         "registry.gates.slimline_heldout.word_perplexity=0.8",
         "registry.gates.slimline_facts_mc.acc=0.3",
         "registry.gates.slimline_facts_gen.exact_match=0.01"]


def _store(project: Path) -> str:
    return f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"


def _runs(project: Path) -> list:
    client = MlflowClient(tracking_uri=_store(project))
    return client.search_runs([client.get_experiment_by_name("slimline").experiment_id])


def _run(project: Path, *args: str) -> tuple[str, float]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI")  # the embedded store: <project>/mlruns/mlflow.db
    env.pop("SLIMLINE_ROOT", None)
    start = time.perf_counter()
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr, time.perf_counter() - start


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name in ("conf", "pipelines", "src", "golden"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    (root / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    (root / "params.yaml").write_text(yaml.safe_dump(compose(SMALL, root / "conf")))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=root, check=True)
    return root


def test_repro_runs_every_stage_and_logs_lineage(project):
    out, _ = _run(project, "dvc", "repro")
    assert _ran(out) == {"data", "base", "prune", "recover", "quantize", "eval@base",
                         "eval@pruned", "eval@recovered", "eval@quantized", "report",
                         "register"}
    metrics = json.loads((project / "metrics" / "base.json").read_text())
    assert metrics["slimline_heldout"]["word_perplexity"] > 1
    assert 0 <= metrics["slimline_facts_mc"]["acc"] <= 1
    assert metrics["speed"]["decode_tokens_per_s"] > 0 and metrics["size"]["num_parameters"] > 0
    results = json.loads((project / "evals" / "base.json").read_text())
    assert results["device"].startswith("cpu: ")
    assert str(project) not in json.dumps(results)  # paths are project-relative
    base_meta = json.loads((project / "artifacts" / "base" / "slimline.json").read_text())

    runs = _runs(project)
    client = MlflowClient(tracking_uri=_store(project))
    artifact_root = client.get_experiment_by_name("slimline").artifact_location
    assert artifact_root == (project / "mlruns" / "artifacts").as_uri()
    by_stage = {r.data.tags["slimline.stage"]: r for r in runs}
    assert set(by_stage) == {"pipeline", "data", "base", "prune", "recover", "quantize", "eval",
                             "report", "register"}
    parent = by_stage["pipeline"].info.run_id
    assert len(runs) == 12
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in runs if r.info.run_id != parent)
    base = by_stage["base"]
    assert base.data.tags["slimline.artifact_digest"] == base_meta["digest"]
    assert base_meta["mlflow_run_id"] == base.info.run_id
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
    evals = {r.data.tags["slimline.eval_target"]: r for r in runs
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


def test_second_repro_runs_nothing_quickly(project):
    before = len(_runs(project))
    out, seconds = _run(project, "dvc", "repro")
    assert _ran(out) == set()
    assert seconds < 10
    assert len(_runs(project)) == before


@pytest.mark.parametrize("section, key, value, expected", [
    # (recover -> everything below it is checked by the harmful-recovery test at the end)
    ("quantize", "num_samples", 4, {"quantize", "eval@quantized", "report", "register"}),
])
def test_downstream_param_change_reruns_only_downstream(project, section, key, value,
                                                         expected):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    out, _ = _run(project, "dvc", "repro")
    assert _ran(out) == expected


def test_dvc_exp_run_composes_hydra_overrides(project):
    _run(project, "dvc", "commit", "-f")
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run"],
                   cwd=project, check=True)
    # -S composes conf/ (not the small params.yaml), so pass the small sizes again.
    overrides = [a for o in [*SMALL, "eval.limit=8"] for a in ("-S", o)]
    out, _ = _run(project, "dvc", "exp", "run", *overrides)
    assert {"eval@base", "eval@pruned", "eval@recovered", "eval@quantized"} <= _ran(out)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["eval"]["limit"] == 8


def _registry(project: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=_store(project), registry_uri=_store(project))


def test_registry_versions_and_lineage_image(project):
    client = _registry(project)
    name = "slimline-tiny-llama"
    versions = client.search_model_versions(f"name = '{name}'")
    digests = [v.tags["slimline.artifact_digest"] for v in versions]
    assert len(digests) == len(set(digests))  # one version per artifact digest
    model = client.get_registered_model(name)
    assert {"base", "pruned", "recovered", "quantized", "candidate"} <= set(model.aliases)
    candidate = client.get_model_version_by_alias(name, "candidate")
    assert candidate.tags["slimline.stage"] == "quantized"
    assert candidate.tags["slimline.dvc_md5"].endswith(".dir")
    assert "Lineage: base v" in candidate.description
    register_run = [r for r in _runs(project) if r.data.tags["slimline.stage"] == "register"][0]
    assert client.list_artifacts(register_run.info.run_id, "lineage")[0].path.endswith(".png")
    stage_run = candidate.tags["slimline.stage_run_id"]
    assert [a.path for a in client.list_artifacts(stage_run, "lineage")] == [
        "lineage/lineage.png"]
    registry = json.loads((project / "registry.json").read_text())
    assert registry["candidate"] == str(candidate.version)


def _slimline(project: Path, *args: str, code: int = 0) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI")
    env.pop("SLIMLINE_ROOT", None)
    env["XDG_CACHE_HOME"] = str(project / ".test-cache")
    result = subprocess.run(["slimline", *args], cwd=project, env=env, capture_output=True,
                            text=True)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_harmful_recovery_is_refused_bisected_and_rolled_back(project):
    out = _slimline(project, "promote", "@candidate")
    good = _registry(project).get_model_version_by_alias("slimline-tiny-llama", "production")
    assert f"@production → v{good.version}" in out
    params = yaml.safe_load((project / "params.yaml").read_text())
    before = params["recover"]["lr"]
    params["recover"]["lr"] = 0.5  # 250x the default: recovery that damages the model
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    out, _ = _run(project, "dvc", "repro")
    assert _ran(out) == {"recover", "eval@recovered", "quantize", "eval@quantized", "report",
                         "register"}
    out = _slimline(project, "promote", "@candidate", code=1)
    assert "fails the gates" in out and "FAIL" in out
    out = _slimline(project, "bisect", "--good", "@production", "--bad", "@candidate")
    assert "culprit: the recovered stage" in out
    assert f"param recover.lr: {before!r} → 0.5" in out
    _slimline(project, "bisect", "--good", "@production", "--bad", "@production", code=3)
    _slimline(project, "promote", "@candidate", "--force", "--reason", "e2e")
    out = _slimline(project, "rollback")
    assert f"→ v{good.version}" in out
    # artifacts/quantized now holds the damaged model: production loads from the DVC cache.
    out = _slimline(project, "load", "@production")
    assert "verified" in out
    assert str(project / ".test-cache" / "slimline" / "models") in out
