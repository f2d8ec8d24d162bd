import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from slimline.checkpoint import load_checkpoint, token_stream
from slimline.config import DistillRecoverConfig, LoraRecoverConfig, SkippedStage
from slimline.data.corpus import build_corpus
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata, Provenance
from slimline.recover import kd_loss, recover_checkpoint, write_loss_curve
from slimline.recover.train import add_adapters, train_adapters

TEXTS = list(build_corpus().train[:300])
SHORT = {"steps": 6, "batch_size": 4, "seq_len": 32, "warmup_steps": 1, "lr": 5e-3}


def test_kd_loss_is_zero_for_identical_logits_and_positive_otherwise():
    a = torch.randn(2, 5, 11)
    assert kd_loss(a, a.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(a, torch.randn(2, 5, 11), 2.0).item() > 0


def test_merged_weights_reproduce_adapter_logits(trained_checkpoint):
    model, tok = load_checkpoint(trained_checkpoint)
    peft_model = add_adapters(model, LoraRecoverConfig(**SHORT))
    train_adapters(peft_model, token_stream(tok, TEXTS), LoraRecoverConfig(**SHORT))
    x = torch.tensor([tok("The capital of")["input_ids"]])
    with torch.no_grad():
        adapted = peft_model(input_ids=x).logits
        merged = peft_model.merge_and_unload()
        assert not any("lora" in name for name, _ in merged.named_parameters())
        torch.testing.assert_close(merged(input_ids=x).logits, adapted, atol=1e-5, rtol=1e-4)


def test_lora_recovery_writes_a_deterministic_standard_checkpoint(tmp_path, trained_checkpoint):
    cfg = LoraRecoverConfig(**SHORT)
    a = recover_checkpoint(trained_checkpoint, tmp_path / "a", cfg, texts=TEXTS, teacher=None,
                           record=Provenance(inputs={"recovery": "r"}))
    b = recover_checkpoint(trained_checkpoint, tmp_path / "b", cfg, texts=TEXTS, teacher=None)
    assert a.digest == b.digest != ArtifactMetadata.read(trained_checkpoint).digest
    assert a.extra["losses"] == b.extra["losses"] and len(a.extra["losses"]) == 6
    meta = ArtifactMetadata.read(tmp_path / "a")
    assert meta.stage == "recovered"
    assert meta.parent_digest == ArtifactMetadata.read(trained_checkpoint).digest
    base = AutoModelForCausalLM.from_pretrained(trained_checkpoint)
    recovered = AutoModelForCausalLM.from_pretrained(tmp_path / "a")
    assert {k: v.shape for k, v in recovered.state_dict().items()} == {
        k: v.shape for k, v in base.state_dict().items()}
    write_loss_curve(tmp_path / "curve.json", a.extra["losses"])
    rows = json.loads((tmp_path / "curve.json").read_text())
    assert [r["step"] for r in rows] == list(range(6))


def test_none_is_an_exact_pass_through(tmp_path, trained_checkpoint):
    result = recover_checkpoint(trained_checkpoint, tmp_path / "r", SkippedStage(), texts=[],
                                teacher=None)
    assert result.skipped
    assert result.digest == ArtifactMetadata.read(trained_checkpoint).digest
    assert "skipped" in (tmp_path / "r" / "README.md").read_text()


def test_distillation_lowers_kl_on_a_fixed_batch(trained_checkpoint):
    teacher, tok = load_checkpoint(trained_checkpoint)
    student, _ = load_checkpoint(trained_checkpoint)
    with torch.no_grad():  # a damaged student, as after pruning
        for layer in student.model.layers:
            layer.mlp.down_proj.weight[:, ::2] = 0
    stream = token_stream(tok, TEXTS[:20])
    batch = stream[:64].reshape(2, 32)

    def kl() -> float:
        with torch.no_grad():
            return kd_loss(student(input_ids=batch).logits, teacher(input_ids=batch).logits,
                           2.0).item()

    before = kl()
    cfg = DistillRecoverConfig(**{**SHORT, "steps": 15})
    student = add_adapters(student, cfg)
    train_adapters(student, stream[:200], cfg, teacher=teacher)
    assert kl() < 0.8 * before


def test_unknown_target_module_is_named(trained_checkpoint):
    model, _ = load_checkpoint(trained_checkpoint)
    with pytest.raises(SlimlineError, match=r"names \['qkv'\]"):
        add_adapters(model, LoraRecoverConfig(target_modules=["qkv"]))
