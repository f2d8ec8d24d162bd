import mlflow
import pytest
from mlflow.tracking import MlflowClient

from slimline.lineage.tags import ARTIFACT_DIGEST
from slimline.lineage.tracking import flatten_params, pipeline_key, stage_run


def test_stage_run_records_params_tags_metrics_and_dataset(tmp_path):
    data = tmp_path / "calibration.jsonl"
    data.write_text('{"text": "x"}\n')
    params = {"eval": {"seq_len": 64, "max_tokens": None}}
    with stage_run("eval", params=params, experiment="t", dvc_stage="eval@base") as run:
        run.set_tags({ARTIFACT_DIGEST: "abc"})
        run.log_dataset(data, name="data/calibration", digest="f" * 64, context="calibration",
                        num_rows=1)
        run.log_metrics({"perplexity": 2.5})
        run.log_series("loss", [3.0, 2.0, 1.0])
    got = MlflowClient().get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"eval.seq_len": "64", "eval.max_tokens": "null"}
    assert got.data.tags["slimline.stage"] == "eval"
    assert got.data.tags["slimline.dvc_stage"] == "eval@base"
    assert got.data.tags["slimline.artifact_digest"] == "abc"
    assert {"perplexity", "wall_time_s", "peak_memory_mb"} <= set(got.data.metrics)
    history = MlflowClient().get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 3.0), (1, 2.0), (2, 1.0)]
    (dataset_input,) = got.inputs.dataset_inputs
    assert dataset_input.dataset.name == "data/calibration"
    assert dataset_input.dataset.digest == "f" * 36
    tags = {t.key: t.value for t in dataset_input.tags}
    assert tags["sha256"] == "f" * 64 and tags["mlflow.data.context"] == "calibration"


def test_stages_of_one_pipeline_share_a_parent(monkeypatch):
    monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "pipe-1")
    with stage_run("data", params={}, experiment="t") as a:
        pass
    with stage_run("base", params={}, experiment="t") as b:
        pass
    monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "pipe-2")
    with stage_run("data", params={}, experiment="t") as c:
        pass
    assert a.parent_run_id == b.parent_run_id != c.parent_run_id
    child = MlflowClient().get_run(b.run_id)
    assert child.data.tags["mlflow.parentRunId"] == a.parent_run_id
    assert child.data.tags["slimline.parent_run_id"] == a.parent_run_id
    parent = MlflowClient().get_run(a.parent_run_id)
    assert parent.data.tags["slimline.stage"] == "pipeline"
    assert parent.info.status == "FINISHED"


def test_failure_marks_run_and_parent_failed(monkeypatch):
    monkeypatch.setenv("SLIMLINE_PIPELINE_ID", "pipe-fail")
    with pytest.raises(RuntimeError), stage_run("base", params={}, experiment="t") as run:
        raise RuntimeError("boom")
    client = MlflowClient()
    assert client.get_run(run.run_id).info.status == "FAILED"
    assert client.get_run(run.parent_run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_without_pipeline_a_stage_run_stands_alone(monkeypatch):
    monkeypatch.delenv("SLIMLINE_PIPELINE_ID", raising=False)
    assert pipeline_key() is None  # pytest is not run by dvc
    with stage_run("data", params={}, experiment="t") as run:
        pass
    assert run.parent_run_id is None


def test_flatten_params():
    assert flatten_params({"a": {"b": 1, "c": {"d": None}}, "e": [1]}) == {
        "a.b": 1, "a.c.d": None, "e": [1]}


def test_a_sqlite_store_keeps_artifacts_next_to_its_database(tmp_path, monkeypatch):
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)  # MLflow's own default would be ./mlruns of this directory
    note = tmp_path / "note.txt"
    note.write_text("x")
    with stage_run("data", params={}, experiment="elsewhere") as run:
        run.log_artifact(note)
    assert (db.parent / "artifacts" / run.run_id / "artifacts" / "note.txt").exists()
    assert not (tmp_path / "mlruns").exists()


def test_a_queued_experiment_logs_to_its_repositorys_store(tmp_path, monkeypatch):
    from slimline.lineage.tracking import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    repo, executor = tmp_path / "repo", tmp_path / "repo/.dvc/tmp/exps/tmp1234"
    executor.mkdir(parents=True)
    # What DVC sets for every stage of `dvc exp run --queue` (dvc/repo/experiments/queue).
    monkeypatch.setenv("DVC_EXP_NAME", "stoic-pita")
    monkeypatch.setenv("DVC_ROOT", str(repo))
    assert tracking_uri(executor) == f"sqlite:///{repo.resolve() / 'mlruns' / 'mlflow.db'}"
    monkeypatch.delenv("DVC_EXP_NAME")  # a plain `dvc repro` in a copy keeps its own store
    assert tracking_uri(executor) == f"sqlite:///{executor / 'mlruns' / 'mlflow.db'}"
