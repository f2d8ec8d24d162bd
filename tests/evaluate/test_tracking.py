"""An evaluation lands in MLflow linked to the stage's logged model and its datasets."""

import shutil

import mlflow
from mlflow.tracking import MlflowClient

from slimline.config import EvalConfig
from slimline.evaluate import evaluate_checkpoint
from slimline.evaluate.tracking import log_evaluation
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tracking import stage_run


def test_metrics_link_to_logged_model_and_dataset(fact_model, eval_data, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    model_dir = tmp_path / "artifacts" / "base"
    shutil.copytree(fact_model, model_dir)
    meta = ArtifactMetadata(stage="base", digest="d" * 64, parent_digest=None,
                            params={"model": {"name": "t"}})
    meta.write(model_dir)
    cfg = EvalConfig(seq_len=64, limit=4, speed=None)
    result = evaluate_checkpoint(model_dir, eval_data, cfg, tmp_path)
    ids = []
    for _ in range(2):  # a second evaluation of the same artifact reuses its logged model
        with stage_run("eval", params={}, experiment="t") as run:
            ids.append(log_evaluation(run, result, model_dir=model_dir, model=meta,
                                      data_dir=eval_data, root=tmp_path,
                                      size={"size_bytes": 10.0}))
    assert ids[0] == ids[1]
    logged = mlflow.get_logged_model(ids[0])
    assert logged.tags["slimline.artifact_digest"] == "d" * 64
    assert logged.tags["slimline.location"] == "artifacts/base"
    assert logged.params == {"model.name": "t"}
    by_name = {m.key: m for m in logged.metrics if m.run_id == run.run_id}
    assert by_name["slimline_facts_mc.acc"].dataset_name == "data/facts"
    assert by_name["slimline_heldout.word_perplexity"].dataset_name == "data/evaluation"
    assert by_name["size.size_bytes"].value == 10.0
    got = MlflowClient().get_run(run.run_id)
    assert got.data.tags["slimline.model_id"] == ids[0]
    assert got.data.tags["slimline.device"].startswith("cpu: ")
    assert {d.dataset.name for d in got.inputs.dataset_inputs} == {"data/evaluation",
                                                                  "data/facts"}
