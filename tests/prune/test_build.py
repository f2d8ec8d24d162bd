import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from slimline._digest import directory_digest
from slimline.base import count_parameters
from slimline.config import PruneConfig, SkippedStage
from slimline.data.corpus import build_corpus
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata, Provenance
from slimline.prune.build import KEPT_FILE, prune_checkpoint
from slimline.prune.scores import SCORES_META

TEXTS = list(build_corpus().train[:200])


def test_none_is_an_exact_pass_through(tmp_path, trained_checkpoint):
    result = prune_checkpoint(trained_checkpoint, tmp_path / "pruned", SkippedStage(),
                              texts=[], record=Provenance(params={"prune": {"method": "none"}}))
    base = ArtifactMetadata.read(trained_checkpoint)
    assert result.skipped and result.digest == base.digest == result.parent_digest
    meta = ArtifactMetadata.read(tmp_path / "pruned")
    assert meta.stage == "pruned" and meta.params == {"prune": {"method": "none"}}
    assert meta.metrics["params_removed_share"] == 0
    assert "skipped" in (tmp_path / "pruned" / "README.md").read_text()


def test_structured_prune_writes_a_smaller_standard_checkpoint(tmp_path, trained_checkpoint):
    cfg = PruneConfig(channel_ratio=0.5, round_to=32, num_batches=2, batch_size=2, seq_len=32)
    out = tmp_path / "pruned"
    result = prune_checkpoint(trained_checkpoint, out, cfg, texts=TEXTS,
                              record=Provenance(inputs={"calibration": "abc"}))
    meta = ArtifactMetadata.read(out)
    assert meta.parent_digest == ArtifactMetadata.read(trained_checkpoint).digest
    assert meta.digest == directory_digest(out) == result.digest
    assert meta.inputs["calibration"] == "abc"
    assert (meta.inputs["device"], meta.inputs["compute_dtype"]) == ("cpu", "float32")
    assert len(meta.inputs["calibration_tokens"]) == 64  # sha256 of the ids fed backward
    assert result.metrics["channels_removed_share"] == 0.5
    assert result.metrics["num_parameters"] == count_parameters(out)
    assert 0 < result.metrics["params_removed_share"] < 0.5
    kept = json.loads((out / KEPT_FILE).read_text())
    assert [len(layer["mlp_channels"]) for layer in kept] == [64, 64]
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.intermediate_size == 64
    assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()


def test_bad_plan_fails_before_writing_anything(tmp_path, trained_checkpoint):
    cfg = PruneConfig(channel_ratio=0.25, round_to=128)  # 128 * 0.75 rounds back to 128
    with pytest.raises(SlimlineError, match="rounds to no pruning"):
        prune_checkpoint(trained_checkpoint, tmp_path / "pruned", cfg, texts=TEXTS)
    assert not (tmp_path / "pruned").exists()


def test_stored_scores_prune_another_ratio_without_a_backward_pass(tmp_path, trained_checkpoint,
                                                                   monkeypatch):
    first = PruneConfig(channel_ratio=0.5, round_to=32, num_batches=2, batch_size=2, seq_len=32)
    prune_checkpoint(trained_checkpoint, tmp_path / "a", first, texts=TEXTS)
    meta = json.loads((tmp_path / "a" / SCORES_META).read_text())
    assert meta["estimator"] == "taylor_first" and meta["num_batches"] == 2
    second = first.model_copy(update={"channel_ratio": 0.25})
    fresh = prune_checkpoint(trained_checkpoint, tmp_path / "b", second, texts=TEXTS)

    def no_backward(*args, **kwargs):
        raise AssertionError("reused scores must not run the backward pass")

    monkeypatch.setattr("slimline.prune._gradients.run_backward", no_backward)
    reused = prune_checkpoint(trained_checkpoint, tmp_path / "c", second, texts=[],
                              scores=tmp_path / "a")
    assert reused.extra["kept"] == fresh.extra["kept"]
    assert [len(layer["mlp_channels"]) for layer in reused.extra["kept"]] == [96, 96]
    assert ArtifactMetadata.read(tmp_path / "c").inputs["importance_scores"]
    with pytest.raises(SlimlineError, match="estimator 'taylor_first', not"):
        prune_checkpoint(trained_checkpoint, tmp_path / "d",
                         second.model_copy(update={"estimator": "magnitude"}), texts=[],
                         scores=tmp_path / "a")


def test_activation_estimator_reads_calibration_and_runs_no_backward_pass(
        tmp_path, trained_checkpoint, monkeypatch):
    def no_backward(*args, **kwargs):
        raise AssertionError("activation importance ran a backward pass")

    monkeypatch.setattr("slimline.prune._gradients.run_backward", no_backward)
    cfg = PruneConfig(estimator="activation", channel_ratio=0.5, round_to=32, num_batches=2,
                      batch_size=2, seq_len=32)
    out = tmp_path / "pruned"
    result = prune_checkpoint(trained_checkpoint, out, cfg, texts=TEXTS)
    meta = ArtifactMetadata.read(out)
    assert len(meta.inputs["calibration_tokens"]) == 64  # the ids fed forward
    assert json.loads((out / SCORES_META).read_text())["estimator"] == "activation"
    assert result.metrics["channels_removed_share"] == 0.5
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.intermediate_size == 64
