"""`slimline report`: the table, its deltas and directions, the files and the MLflow run."""

import json

import pytest
from mlflow.tracking import MlflowClient

from slimline.cli.main import main
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata
from slimline.report import load_report, write_report
from slimline.report.build import publish_report
from slimline.results import retention

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
    # Each later stage: value (change) and recovery, the share of the base's quality kept.
    assert "| task.ppl | ↓ | 2 | 2.5 (+25.0%) | 80.0% | 2.2 (+10.0%) | 90.9% |" in table
    assert "| size.size_bytes | ↓ | 4,000 | 3,000 (-25.0%) | – |" in table  # not quality
    assert "recovered (skipped)" in table and "cpu: test" in table


def test_retention_directions():
    assert retention(0.9, 1.0, True) == pytest.approx(0.9)
    assert retention(2.0, 1.0, False) == pytest.approx(0.5)
    assert retention(1.0, 1.0, None) is None
    assert retention(1.0, 0.0, True) == 1.0  # nothing to lose


def test_files_and_mlflow_run(project):
    report, files = publish_report(project)
    assert [f.name for f in files] == ["report.md", "report.json", "size_vs_quality.png",
                                       "stage_metrics.png", "hardware_fit.png"]
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


def _speed_doc(stages: dict[str, tuple[float, float]], digests: dict[str, str]) -> dict:
    """metrics/speed.json as the speed stage writes it: one measurement of every stage."""
    base = stages["base"]
    return {"measurement": {"device": "cpu: test", "runtime": "transformers on cpu",
                            "started": "t0", "finished": "t1", "base": "base", "rounds": 3,
                            "repeats": 5, "prompt_tokens": 64, "new_tokens": 32,
                            "batch_size": 1},
            "stages": {s: {"digest": digests[s], "prefill_tokens_per_s": p,
                           "decode_tokens_per_s": d, "prefill_vs_base": p / base[0],
                           "decode_vs_base": d / base[1]} for s, (p, d) in stages.items()}}


def test_speed_is_compared_only_within_one_side_by_side_measurement(project):
    # Each evaluation timed its own model, at its own time: a busy machine made the base
    # look 71x slower than the pruned model. Those numbers never meet in the report.
    for stage, prefill in (("base", 100.0), ("pruned", 7197.0), ("recovered", 95.0)):
        doc = json.loads((project / "metrics" / f"{stage}.json").read_text())
        doc["speed"] = {"prefill_tokens_per_s": prefill, "decode_tokens_per_s": prefill / 10}
        (project / "metrics" / f"{stage}.json").write_text(json.dumps(doc))
    report, files = publish_report(project, log=False)
    text, doc = files[0].read_text(), json.loads(files[1].read_text())
    assert "| speed." not in text and "7,097" not in text and "7,197" not in text
    assert not [r for r in doc["rows"] if r["metric"].startswith("speed.")]
    assert "No side-by-side measurement" in text and doc["speed"]["stages"] == {}

    # The speed stage's one measurement is the only source of ratios.
    digests = {s: s * 4 for s in STAGES}
    (project / "metrics" / "speed.json").write_text(json.dumps(_speed_doc(
        {"base": (1000.0, 100.0), "pruned": (1200.0, 110.0), "recovered": (1190.0, 108.0)},
        digests)))
    report, files = publish_report(project, log=False)
    text = files[0].read_text()
    assert "## Speed, one side-by-side measurement\n\nMeasured on cpu: test with " \
        "transformers on cpu, t0 to t1" in text
    assert "| pruned | 1,200 | 1.20 | 110.0 | 1.10 |" in text
    assert json.loads(files[1].read_text())["speed"]["stages"]["pruned"]["prefill_vs_base"] \
        == pytest.approx(1.2)

    # A stage whose weights changed since that measurement is left out, not compared...
    digests["pruned"] = "other"
    (project / "metrics" / "speed.json").write_text(json.dumps(_speed_doc(
        {"base": (1000.0, 100.0), "pruned": (1200.0, 110.0)}, digests)))
    text = publish_report(project, log=False)[1][0].read_text()
    assert "| pruned | 1,200" not in text and "Not shown: pruned changed" in text
    # ...and without the base in the measurement there is no ratio at all.
    digests["base"] = "other"
    (project / "metrics" / "speed.json").write_text(json.dumps(_speed_doc(
        {"base": (1000.0, 100.0), "pruned": (1200.0, 110.0)}, digests)))
    text = publish_report(project, log=False)[1][0].read_text()
    assert "× base" not in text and "Not shown: base" in text


def test_hardware_fit_uses_each_stages_config_and_bytes(project):
    config = {"num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 14336,
              "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
              "dtype": "bfloat16", "max_position_embeddings": 8192}
    for stage, intermediate in (("base", 14336), ("pruned", 10752)):  # pruning narrows MLPs
        (project / "artifacts" / stage / "config.json").write_text(
            json.dumps({**config, "intermediate_size": intermediate}))
    doc = json.loads((project / "metrics" / "base.json").read_text())
    doc["size"]["size_bytes"] = 16_060_522_496  # Llama-3-8B in bf16
    (project / "metrics" / "base.json").write_text(json.dumps(doc))
    _, files = publish_report(project, log=False)
    text, fit = files[0].read_text(), json.loads(files[1].read_text())["hardware_fit"]
    # base at 8,192 tokens (the model's limit; 32,768 is capped): 14.96 GiB + 1 GiB of bf16
    # KV cache per sequence; 6 sequences fit 24 GiB × 0.9.
    assert ("| base | 8,192 | 14.96 GiB | 1.00 GiB | 15.96 GiB | 30.96 GiB | 6 | 28 | 57 "
            "| 111 |") in text
    assert [(r["model"], r["context"]) for r in fit["rows"]] == [
        ("base", 2048), ("base", 8192), ("pruned", 2048), ("pruned", 8192)]
    assert fit["missing"] == ["recovered"] and "No config.json for recovered" in text
    assert files[4].read_bytes()[:4] == b"\x89PNG"
