"""`slimline report`: the table, its deltas and directions, the files and the MLflow run."""

import json

import pytest
from mlflow.tracking import MlflowClient

from slimline.cli.main import main
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata
from slimline.report import load_report, retention, write_report
from slimline.report.build import publish_report

STAGES = {
    "base": (2.0, 1.0, 4000),
    "pruned": (2.5, 0.8, 3000),
    "recovered": (2.2, 0.9, 3000),
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    (tmp_path / "params.yaml").write_text("registry: {experiment: slimline}\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "evals").mkdir()
    for stage, (ppl, acc, size) in STAGES.items():
        (tmp_path / "metrics" / f"{stage}.json").write_text(json.dumps(
            {"task": {"ppl": ppl, "acc": acc}, "size": {"size_bytes": size}}))
        (tmp_path / "evals" / f"{stage}.json").write_text(json.dumps(
            {"device": "cpu: test", "higher_is_better": {"task": {"ppl": False, "acc": True}}}))
        directory = tmp_path / "artifacts" / stage
        directory.mkdir(parents=True)
        ArtifactMetadata(stage=stage, digest=stage * 4, parent_digest=None,
                         params={"x": {"method": "none" if stage == "recovered" else "y"}}
                         ).write(directory)
    return tmp_path


def test_rows_carry_deltas_and_retention(project):
    report = load_report(project)
    assert [s.stage for s in report.stages] == ["base", "pruned", "recovered"]
    assert report.stages[2].skipped and not report.stages[1].skipped
    rows = {r["metric"]: r for r in report.rows()}
    pruned = rows["task.ppl"]["stages"]["pruned"]
    assert pruned["delta"] == pytest.approx(0.5)
    assert pruned["relative"] == pytest.approx(0.25)
    assert pruned["retention"] == pytest.approx(0.8)  # lower is better: base / value
    assert rows["task.acc"]["stages"]["pruned"]["retention"] == pytest.approx(0.8)
    assert rows["size.size_bytes"]["higher_is_better"] is False
    assert report.quality_metrics() == ["task.ppl", "task.acc"]
    table = report.markdown()
    assert "| task.ppl | ↓ | 2 | 2.5 (+25.0%) | 2.2 (+10.0%) |" in table
    assert "recovered (skipped)" in table and "cpu: test" in table


def test_retention_directions():
    assert retention(0.9, 1.0, True) == pytest.approx(0.9)
    assert retention(2.0, 1.0, False) == pytest.approx(0.5)
    assert retention(1.0, 1.0, None) is None
    assert retention(1.0, 0.0, True) == 1.0  # nothing to lose


def test_files_and_mlflow_run(project):
    report, files = publish_report(project)
    assert [f.name for f in files] == ["report.md", "report.json", "size_vs_quality.png",
                                       "stage_metrics.png"]
    for f in files:
        assert f.stat().st_size > 100
    assert files[2].read_bytes()[:4] == b"\x89PNG"
    assert json.loads(files[1].read_text())["rows"][0]["metric"] == "task.ppl"
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("slimline").experiment_id])
    assert run.data.tags["slimline.stage"] == "report"
    assert run.data.metrics["retention.pruned.task.ppl"] == pytest.approx(0.8)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert "report/size_vs_quality.png" in logged


def test_cli_writes_without_mlflow(project, tmp_path, capsys):
    main(["report", "--out", str(tmp_path / "out"), "--no-mlflow"])
    assert "| task.acc | ↑ |" in capsys.readouterr().out
    assert (tmp_path / "out" / "report.md").exists()
    assert MlflowClient().get_experiment_by_name("slimline") is None


def test_no_metrics_is_a_clear_error(tmp_path):
    with pytest.raises(SlimlineError, match="run the pipeline first"):
        load_report(tmp_path)
    with pytest.raises(SlimlineError):
        write_report(load_report(tmp_path), tmp_path / "r")
