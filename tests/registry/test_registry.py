"""Register, promote behind gates, roll back, trace lineage, bisect, load by reference."""

import json

import pytest
from mlflow.tracking import MlflowClient

from slimline.cli.main import main
from slimline.errors import SlimlineError
from slimline.registry import lineage_chain, register_pipeline, resolve
from slimline.registry.bisect import bisect
from slimline.registry.load import load, locate
from slimline.registry.promote import GateFailure, history, promote, rollback

GATES = {"task.ppl": 0.9, "task.acc": 0.95}


def _register(project):
    return register_pipeline(project.root, "demo", "slimline")


def test_every_stage_becomes_a_tagged_version_once(project):
    digests = project.pipeline()
    first = _register(project)
    assert [(r.stage, r.version.version, r.created) for r in first] == [
        ("base", "1", True), ("pruned", "2", True), ("recovered", "3", True),
        ("quantized", "4", True)]
    quantized = first[-1].version
    assert quantized.digest == digests["quantized"]
    assert quantized.parent_version == "3" and quantized.parent_digest == digests["recovered"]
    assert quantized.tags["slimline.calibration_digest"] == "c" * 64
    assert quantized.tags["slimline.location"] == "artifacts/quantized"
    assert quantized.metrics == {"task.ppl": 2.12, "task.acc": 0.88,
                                 "speed.decode_tokens_per_s": 100.0}
    assert quantized.params == {"quantize": {"method": "gptq", "bits": 4}}
    client = MlflowClient()
    mv = client.get_model_version("demo", "4")
    assert "base v1 → pruned v2 → recovered v3 → quantized v4" in mv.description
    assert "not copied into MLflow" in mv.description
    assert mv.source.startswith("models:/m-")
    logged = client.get_logged_model(mv.source.removeprefix("models:/"))
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": "demo", "version": 4}]
    assert logged.tags["slimline.location"] == "artifacts/quantized"
    aliases = client.get_registered_model("demo").aliases
    assert {k: str(v) for k, v in aliases.items()} == {
        "base": "1", "pruned": "2", "recovered": "3", "quantized": "4", "candidate": "4"}
    again = _register(project)  # same digests: no new versions
    assert [r.created for r in again] == [False] * 4
    assert len(client.search_model_versions("name = 'demo'")) == 4


def test_a_skipped_stage_reuses_its_parents_version(project):
    project.pipeline(skip_prune=True)
    registered = _register(project)
    assert [(r.stage, r.version.version, r.skipped) for r in registered] == [
        ("base", "1", False), ("pruned", "1", True), ("recovered", "2", False),
        ("quantized", "3", False)]
    assert registered[2].version.tags["slimline.stages_skipped"] == "pruned"
    chain = lineage_chain(registered[-1].version)
    assert [v.label for v in chain] == ["base v1", "recovered v2", "quantized v3"]


def test_promote_refuses_a_failing_version_and_records_a_passing_one(project):
    project.pipeline()
    _register(project)
    good = resolve("@candidate", default_name="demo")
    event, results = promote(good, "production", GATES)
    assert all(r.passed for r in results) and event.replaced is None
    project.pipeline({"recovered": (3.0, 0.6), "quantized": (3.1, 0.6)}, lr=0.5)
    _register(project)
    bad = resolve("models:/demo@candidate")
    assert bad.version == "6"
    with pytest.raises(GateFailure) as failure:
        promote(bad, "production", GATES)
    failing = {r.metric for r in failure.value.results if not r.passed}
    assert failing == {"task.ppl", "task.acc"}
    assert "task.acc" in str(failure.value) and "FAIL" in str(failure.value)
    assert resolve("demo@production").version == good.version  # unchanged
    with pytest.raises(SlimlineError, match="needs --reason"):
        promote(bad, "production", GATES, force=True)
    with pytest.raises(SlimlineError, match="moved by the register stage"):
        promote(bad, "candidate", GATES)
    event, _ = promote(bad, "production", GATES, force=True, reason="known dip")
    assert event.forced and event.replaced == good.version
    assert resolve("demo@production").version == "6"
    note = MlflowClient().get_model_version("demo", "6").tags["slimline.production"]
    assert "forced: known dip" in note and "replaced v4" in note
    restored = rollback("demo", "production")
    assert restored.version == good.version and restored.replaced == "6"
    assert resolve("demo@production").version == good.version
    assert [e["action"] for e in history("demo", "production")] == ["promote", "promote",
                                                                    "rollback"]
    with pytest.raises(SlimlineError, match="no earlier promoted version"):
        rollback("demo", "production")


def test_bisect_names_the_stage_and_input_that_changed(project):
    project.pipeline()
    _register(project)
    good = resolve("demo@candidate")
    project.pipeline({"recovered": (2.6, 0.8), "quantized": (2.62, 0.79)}, lr=0.05)
    _register(project)
    bad = resolve("demo@candidate")
    result = bisect(good, bad, tolerance=0.01)
    assert [c.stage for c in result.stages] == ["base", "pruned", "recovered", "quantized"]
    assert result.culprit.stage == "recovered"
    assert "param recover.lr: 0.0002 → 0.05" in result.culprit.inputs
    assert not any(d.startswith("parent digest") for d in result.culprit.inputs)
    same = bisect(good, good)
    assert same.culprit is None


def test_bisect_finds_a_calibration_change(project):
    project.pipeline()
    _register(project)
    good = resolve("demo@candidate")
    project.pipeline({"quantized": (2.3, 0.85)}, calibration="d" * 64)
    _register(project)
    result = bisect(good, resolve("demo@candidate"), metrics=["task.ppl"])
    assert result.culprit.stage == "quantized"
    assert "calibration digest: cccccccccccc → dddddddddddd" in result.culprit.inputs


def test_refs_resolve_in_every_form(project):
    project.pipeline()
    _register(project)
    for ref in ("models:/demo/3", "demo/3", "models:/demo@recovered", "demo@recovered",
                "@recovered", "3"):
        assert resolve(ref, default_name="demo").version == "3", ref
    with pytest.raises(SlimlineError, match="has no alias @production"):
        resolve("demo@production")
    with pytest.raises(SlimlineError, match="has no version 99"):
        resolve("demo/99")
    with pytest.raises(SlimlineError, match="cannot resolve"):
        resolve("not-a-rev-anywhere", root=project.root)


def test_load_verifies_the_digest(project):
    project.pipeline()
    _register(project)
    model, tokenizer = load("models:/demo@base", root=project.root)
    assert model.config.model_type == "llama" and tokenizer("hi")["input_ids"]
    (project.root / "artifacts" / "base" / "marker.txt").write_text("changed")
    with pytest.raises(SlimlineError, match="holds another artifact now"):
        locate(resolve("demo@base"), project.root)


def test_cli_promote_rollback_lineage_and_bisect(project, capsys, tmp_path):
    project.pipeline()
    _register(project)
    main(["promote", "@candidate"])
    assert "demo@production → v4" in capsys.readouterr().out
    main(["lineage", "@production", "--image", str(tmp_path / "g.png")])
    out = capsys.readouterr().out
    assert "base v1" in out and "| task.ppl | ↓ | 2 | 2.4 (+20.0%)" in out
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    project.pipeline({"recovered": (3.0, 0.6), "quantized": (3.1, 0.6)}, lr=0.5)
    _register(project)
    with pytest.raises(SystemExit) as refused:
        main(["promote", "@candidate"])
    assert refused.value.code == 1
    assert "fails the gates" in capsys.readouterr().err
    main(["bisect", "--good", "@production", "--bad", "@candidate"])  # found: exit 0
    out = capsys.readouterr().out
    assert "culprit: the recovered stage" in out and "recover.lr" in out
    with pytest.raises(SystemExit) as none:
        main(["bisect", "--good", "@production", "--bad", "@production"])
    assert none.value.code == 3
    main(["promote", "@candidate", "--force", "--reason", "test"])
    main(["rollback"])
    assert "→ v4 (rolled back from v6)" in capsys.readouterr().out
    assert json.loads(MlflowClient().get_registered_model("demo").tags[
        "slimline.alias_history.production"])[-1]["action"] == "rollback"


def test_missing_evaluation_registers_nothing(project):
    project.pipeline()
    (project.root / "metrics" / "quantized.json").unlink()
    with pytest.raises(SlimlineError, match="evaluate quantized first"):
        _register(project)
    assert MlflowClient().search_registered_models() == []
