"""Versions made inside `dvc exp run` never move @candidate (issue 19, item 3)."""

import json

import pytest
from mlflow.tracking import MlflowClient

from slimline.cli.main import main
from slimline.registry import resolve
from slimline.registry.register import register_pipeline
from slimline.registry.workspace import register_workspace

BASELINE = "0123456789abcdef0123456789abcdef01234567"


def _aliases() -> dict[str, str]:
    return {k: str(v) for k, v in MlflowClient().get_registered_model("demo").aliases.items()}


@pytest.fixture
def in_experiment(monkeypatch):
    """The environment DVC gives every stage of `dvc exp run -n stoic-pita`."""
    monkeypatch.setenv("DVC_EXP_NAME", "stoic-pita")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", BASELINE)
    return monkeypatch


def test_an_experiment_registers_without_moving_any_alias(project, in_experiment, capsys):
    in_experiment.delenv("DVC_EXP_NAME")
    project.pipeline()
    register_workspace(project.root)  # the main pipeline: v1..v4, aliases on them
    before = _aliases()
    assert before["candidate"] == "4"
    in_experiment.setenv("DVC_EXP_NAME", "stoic-pita")
    project.pipeline({"quantized": (2.2, 0.87)}, calibration="d" * 64)
    summary = register_workspace(project.root)

    assert _aliases() == before  # nothing moved, not even @quantized
    new = resolve("demo/5")
    assert new.stage == "quantized"
    assert new.tags["slimline.experiment"] == "stoic-pita"
    assert new.tags["slimline.experiment_baseline"] == BASELINE
    assert new.tags["slimline.experiment_only"] == "true"
    assert new.aliases == []
    description = MlflowClient().get_model_version("demo", "5").description
    assert "made in DVC experiment stoic-pita (baseline 0123456)" in description
    assert "`dvc exp apply stoic-pita` then `slimline register`" in description
    reused = resolve("demo/1")  # the unchanged base was not made by the experiment
    assert "slimline.experiment" not in reused.tags
    record = json.loads((project.root / "registry.json").read_text())
    assert record["experiment"] == "stoic-pita" and record["aliases_moved"] is False
    assert record["candidate"] is None and record["final_version"] == "5"
    assert record["stages"]["quantized"]["experiment"] == "stoic-pita"
    assert "aliases NOT moved" in summary.lines()[-1]
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("slimline").experiment_id],
        filter_string="tags.`slimline.stage` = 'register'", order_by=["start_time DESC"])
    assert runs[0].data.tags["slimline.experiment"] == "stoic-pita"
    assert runs[0].data.tags["slimline.aliases_moved"] == "false"
    capsys.readouterr()
    main(["lineage", "demo/5"])
    out = capsys.readouterr().out
    assert "(made in DVC experiment stoic-pita; not adopted" in out
    assert "base: base v1 (t, sha256 " in out


def test_slimline_register_after_exp_apply_makes_it_the_candidate(project, in_experiment,
                                                                  capsys):
    project.pipeline()
    register_pipeline(project.root, "demo", "slimline")  # inside the experiment
    assert MlflowClient().get_registered_model("demo").aliases == {}
    assert resolve("demo/4").tags["slimline.experiment_only"] == "true"
    # `dvc exp apply stoic-pita` put its artifacts in the workspace; outside the experiment:
    in_experiment.delenv("DVC_EXP_NAME")
    in_experiment.delenv("DVC_EXP_BASELINE_REV")
    main(["register"])
    out = capsys.readouterr().out
    assert "quantized  demo v4  adopted" in out and "@candidate → v4" in out
    assert _aliases() == {"base": "1", "pruned": "2", "recovered": "3", "quantized": "4",
                          "candidate": "4"}
    adopted = resolve("demo@candidate")
    assert "slimline.experiment_only" not in adopted.tags
    assert adopted.tags["slimline.experiment"] == "stoic-pita"  # where it came from stays
    description = MlflowClient().get_model_version("demo", "4").description
    assert "adopted by `slimline register`" in description
    assert "no alias was moved" not in description
    assert len(MlflowClient().search_model_versions("name = 'demo'")) == 4  # none new
    record = json.loads((project.root / "registry.json").read_text())
    assert record["aliases_moved"] is True and record["candidate"] == "4"
    assert record["stages"]["quantized"]["adopted"] is True


def test_the_user_can_ask_an_experiment_to_move_the_aliases(project, in_experiment):
    project.pipeline()
    registered = register_pipeline(project.root, "demo", "slimline", move_aliases=True)
    assert _aliases()["candidate"] == "4"
    assert "slimline.experiment_only" not in registered[-1].version.tags
    assert registered[-1].version.tags["slimline.experiment"] == "stoic-pita"
