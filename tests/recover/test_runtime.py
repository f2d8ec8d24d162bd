"""Recovery on the configured runtime: stored dtype kept on disk, teacher frozen."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from slimline.checkpoint import load_checkpoint, safetensors_header, token_stream
from slimline.config import DistillRecoverConfig, LoraRecoverConfig, RuntimeConfig
from slimline.data.corpus import build_corpus
from slimline.lineage.metadata import ArtifactMetadata
from slimline.recover import recover_checkpoint
from slimline.recover.train import add_adapters, train_adapters

TEXTS = list(build_corpus().train[:300])
SHORT = {"steps": 12, "batch_size": 4, "seq_len": 32, "warmup_steps": 1, "lr": 5e-3}


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory, trained_checkpoint):
    """The trained tiny Llama, damaged as after pruning, stored in bf16 like a user's base."""
    model, tok = load_checkpoint(trained_checkpoint)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.down_proj.weight[:, ::2] = 0
    out = tmp_path_factory.mktemp("bf16") / "ckpt"
    model.to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    ArtifactMetadata(stage="pruned", digest="b" * 64, parent_digest=None, params={}).write(out)
    return out


def _stored_dtypes(directory) -> set[str]:
    return {entry["dtype"] for f in directory.glob("*.safetensors")
            for name, entry in safetensors_header(f).items() if name != "__metadata__"}


@pytest.mark.parametrize(("parent", "compute", "on_disk"), [
    ("bf16_checkpoint", "float32", "BF16"),     # a CPU without native bf16: fp32 maths
    ("trained_checkpoint", "bfloat16", "F32"),  # bf16 autocast over fp32 weights
])
def test_recovered_checkpoint_keeps_the_stored_dtype(parent, compute, on_disk, tmp_path,
                                                     request):
    parent_dir = request.getfixturevalue(parent)
    cfg = DistillRecoverConfig(**SHORT)
    result = recover_checkpoint(parent_dir, tmp_path / "r", cfg, texts=TEXTS,
                                teacher=parent_dir,
                                runtime=RuntimeConfig(device="cpu", dtype=compute))
    assert _stored_dtypes(tmp_path / "r") == {on_disk}
    meta = ArtifactMetadata.read(tmp_path / "r")
    assert meta.inputs == {"device": "cpu", "compute_dtype": compute}
    assert all(torch.isfinite(torch.tensor(result.extra["losses"])))


def _fixed_batch_loss(model_dir) -> float:
    model, tok = load_checkpoint(model_dir)
    batch = token_stream(tok, TEXTS)[:512].reshape(8, 64)
    with torch.no_grad():
        return model.float()(input_ids=batch, labels=batch).loss.item()


def test_bf16_checkpoint_trains_in_fp32_and_loss_decreases(bf16_checkpoint, tmp_path):
    cfg = LoraRecoverConfig(**{**SHORT, "steps": 30, "batch_size": 8, "lr": 1e-2})
    recover_checkpoint(bf16_checkpoint, tmp_path / "r", cfg, texts=TEXTS, teacher=None,
                       runtime=RuntimeConfig(device="cpu", dtype="float32"))
    assert _fixed_batch_loss(tmp_path / "r") < 0.99 * _fixed_batch_loss(bf16_checkpoint)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "r")
    assert {p.dtype for p in merged.parameters()} == {torch.bfloat16}


def test_teacher_stays_frozen_and_only_adapters_train(trained_checkpoint):
    teacher, tok = load_checkpoint(trained_checkpoint)
    teacher.requires_grad_(False)
    student, _ = load_checkpoint(trained_checkpoint)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    frozen = {k: v.clone() for k, v in student.state_dict().items()}
    cfg = DistillRecoverConfig(**{**SHORT, "steps": 3})
    peft_model = add_adapters(student, cfg)
    train_adapters(peft_model, token_stream(tok, TEXTS), cfg, teacher=teacher,
                   device=torch.device("cpu"), autocast=torch.bfloat16)
    assert all(p.grad is None for p in teacher.parameters())
    for name, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    trained = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    base = {k.replace(".base_layer", ""): v
            for k, v in peft_model.get_base_model().state_dict().items() if "lora_" not in k}
    for name, value in frozen.items():  # the pruned weights move only through the adapters
        torch.testing.assert_close(base[name], value, rtol=0, atol=0)
