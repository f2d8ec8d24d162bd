"""The declared chain of model stages agrees with dvc.yaml, which wires it for DVC."""

import pytest
import yaml

from slimline.errors import SlimlineError
from slimline.stages import CHAIN, MODEL_STAGES, STAGE_SECTIONS, model_stage

from .conftest import REPO

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = DVC["stages"]


def test_the_chain_starts_at_the_base_and_each_stage_follows_its_parent():
    assert CHAIN[0].parent is None
    for before, after in zip(CHAIN, CHAIN[1:], strict=False):
        assert after.parent == before.name


@pytest.mark.parametrize("stage", CHAIN, ids=lambda s: s.name)
def test_each_model_stage_is_a_dvc_stage_writing_its_artifact(stage):
    entry = STAGES[stage.dvc_stage]
    assert entry["outs"] == [f"artifacts/{stage.name}"]
    assert entry["cmd"] == f"python pipelines/{stage.dvc_stage}.py"
    assert stage.section in entry["params"]
    deps = entry["deps"]
    if stage.parent:
        assert f"artifacts/{stage.parent}" in deps
    if stage.reads_split:
        assert f"artifacts/data/{stage.reads_split}.jsonl" in deps


def test_every_model_stage_is_evaluated_timed_reported_and_registered():
    assert tuple(STAGES["eval"]["foreach"]) == MODEL_STAGES
    for name in MODEL_STAGES:
        assert f"artifacts/{name}" in STAGES["speed"]["deps"]
        assert f"metrics/{name}.json" in STAGES["report"]["deps"]
        assert f"evals/{name}.json" in STAGES["report"]["deps"]
        assert f"artifacts/{name}" in STAGES["register"]["deps"]
        assert f"metrics/{name}.json" in STAGES["register"]["deps"]
    assert tuple(DVC["artifacts"]) == MODEL_STAGES


def test_dvc_model_stages_are_exactly_the_chain():
    makes_a_model = {name for name, entry in STAGES.items()
                     if any(str(out).startswith("artifacts/") and out != "artifacts/data"
                            for out in entry.get("outs", []))}
    assert makes_a_model == {s.dvc_stage for s in CHAIN}


def test_a_stage_is_found_by_either_name_and_an_unknown_one_is_refused():
    assert model_stage("prune") is model_stage("pruned")
    assert STAGE_SECTIONS["base"] == "model"
    assert model_stage("quantized").skipped_story() == (
        "Quantization skipped (quantize=none): the recovered checkpoint, unchanged.")
    with pytest.raises(SlimlineError, match="'sparsify' is not a model stage"):
        model_stage("sparsify")
