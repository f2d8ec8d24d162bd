import pytest
import yaml

from slimline.errors import SlimlineError
from slimline.pipeline import declared_params, load_params, stage_params

from .conftest import REPO

STAGES = [name for name in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]]


@pytest.mark.parametrize("stage", STAGES)
def test_every_declared_param_exists(stage):
    params = stage_params(stage, REPO)
    # Every stage is configured (the report by report.fit, its hardware-fit settings).
    assert params, f"stage {stage} params: {params}"


def test_stage_params_are_exactly_the_declared_keys():
    assert declared_params("prune", REPO) == ["prune", "runtime.device", "runtime.dtype",
                                              "runtime.threads"]
    assert declared_params("eval@base", REPO) == ["eval"]
    assert stage_params("eval@base", REPO) == {"eval": load_params(REPO)["eval"]}
    assert set(stage_params("base", REPO)) == {"model"}


def test_unknown_stage_and_missing_key(tmp_path):
    with pytest.raises(SlimlineError, match="no stage 'nope'"):
        declared_params("nope", REPO)
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: x\n    params: [a.b]\n")
    (tmp_path / "params.yaml").write_text("a: {c: 1}\n")
    with pytest.raises(SlimlineError, match="no key 'a.b'"):
        stage_params("s", tmp_path)


def test_a_model_stage_entry_point_records_its_artifact_on_its_run(tmp_path, monkeypatch):
    """pipelines/prune.py with prune=none, through run_model_stage: the artifact, its
    provenance and the run's tags and files, with no model loaded."""
    import importlib.util
    import json

    import mlflow
    import torch
    from safetensors.torch import save_file

    from slimline._digest import file_sha256
    from slimline.lineage import tags
    from slimline.lineage.metadata import ArtifactMetadata
    from slimline.model_stage import Made, build_model_stage
    from slimline.stages import model_stage

    def weights(tmp):
        save_file({"w": torch.zeros(2, 2)}, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text("{}")
        return Made()

    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = {"prune": {"method": "none"}, "runtime": load_params(REPO)["runtime"],
              "registry": {"experiment": "entry-point"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    base = build_model_stage(model_stage("base"), None, tmp_path / "artifacts" / "base",
                             transform=weights, story=lambda *_: "base")
    data = tmp_path / "artifacts" / "data"
    data.mkdir()
    (data / "calibration.jsonl").write_text(json.dumps({"text": "a b c"}) + "\n")
    sha = file_sha256(data / "calibration.jsonl")
    (data / "manifest.json").write_text(json.dumps({"splits": [
        {"name": "calibration", "file": "calibration.jsonl", "num_docs": 1, "sha256": sha,
         "source": "test"}]}))
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    spec = importlib.util.spec_from_file_location("prune_entry", REPO / "pipelines" / "prune.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    entry.main()

    meta = ArtifactMetadata.read(tmp_path / "artifacts" / "pruned")
    assert (meta.stage, meta.digest, meta.parent_digest) == ("pruned", base.digest, base.digest)
    assert meta.inputs == {"calibration": sha} and meta.params == {
        "prune": {"method": "none"}, "runtime": params["runtime"]}
    run = mlflow.search_runs(experiment_names=["entry-point"], output_format="list")[0]
    assert run.info.run_name == "prune none"
    assert {k: run.data.tags[k] for k in (tags.STAGE, tags.SKIPPED, tags.ARTIFACT_DIGEST,
                                           tags.PARENT_DIGEST, tags.split_sha256("calibration"))
            } == {tags.STAGE: "prune", tags.SKIPPED: "true", tags.ARTIFACT_DIGEST: base.digest,
                  tags.PARENT_DIGEST: base.digest, tags.split_sha256("calibration"): sha}
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "model")}
    assert logged == {"model/slimline.json", "model/README.md", "model/config.json"}
    assert run.data.metrics["num_parameters"] == 4
