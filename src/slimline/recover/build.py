"""Build `artifacts/recovered`: fine-tune the pruned model and merge, or pass it through."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimline._atomic import atomic_directory
from slimline.checkpoint import parameter_stats, pass_through
from slimline.config import DistillRecoverConfig, LoraRecoverConfig, RuntimeConfig, SkippedStage
from slimline.lineage.metadata import ArtifactMetadata, seal_artifact

LOSS_FILE = "loss_curve.json"


@dataclass
class RecoverResult:
    path: Path
    digest: str
    parent_digest: str
    metrics: dict[str, float]
    skipped: bool
    losses: list[float] = field(default_factory=list)


def _placed(model_dir: Path, device, compute_dtype):
    """A checkpoint on `device`, upcast to fp32 only when the compute dtype is fp32 (a CPU
    without native bf16); otherwise in its stored dtype, computed under autocast. Returns
    (model, tokenizer, stored dtype)."""
    import torch

    from slimline.checkpoint import load_checkpoint

    model, tokenizer = load_checkpoint(model_dir)  # in the stored dtype
    stored = next(model.parameters()).dtype
    if compute_dtype == torch.float32:
        model.float()
    return model.to(device), tokenizer, stored


def _recover(parent: Path, teacher_dir: Path | None, tmp: Path, cfg: LoraRecoverConfig,
             texts: list[str], rt: RuntimeConfig) -> tuple[list[float], dict[str, str]]:
    import torch

    from slimline import runtime
    from slimline.checkpoint import token_stream
    from slimline.recover.train import add_adapters, train_adapters

    device, compute_dtype = rt.resolve()
    model, tokenizer, stored = _placed(parent, device, compute_dtype)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    teacher = None
    if isinstance(cfg, DistillRecoverConfig):
        teacher, _, _ = _placed(teacher_dir, device, compute_dtype)
        teacher.requires_grad_(False)
    use_cache = model.config.use_cache
    if device.type == "cuda":  # activations, not weights, dominate a long-sequence batch
        model.config.use_cache = False
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()  # peft: frozen embeddings, checkpointed blocks
    peft_model = add_adapters(model, cfg)  # only the adapters train
    autocast = None if compute_dtype == torch.float32 else compute_dtype
    losses = train_adapters(peft_model, token_stream(tokenizer, texts), cfg, teacher=teacher,
                            device=device, autocast=autocast)
    del teacher
    merged = peft_model.merge_and_unload().to("cpu", stored)  # back to the stored dtype
    assert {k: tuple(v.shape) for k, v in merged.state_dict().items()} == shapes
    merged.config.use_cache = use_cache
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return losses, runtime.record(device, compute_dtype)


def recover_checkpoint(parent: Path, out_dir: Path,
                       cfg: LoraRecoverConfig | DistillRecoverConfig | SkippedStage, *,
                       texts: list[str], teacher: Path | None, params: dict[str, Any],
                       inputs: dict[str, str], run_id: str | None = None,
                       runtime: RuntimeConfig | None = None) -> RecoverResult:
    """Write the recovered checkpoint (or the parent unchanged for recover=none) atomically.

    Args:
        parent: the pruned checkpoint.
        out_dir: target directory (`artifacts/recovered`).
        cfg: the `recover` section.
        texts: recovery documents.
        teacher: the base checkpoint, loaded only for distillation.
        params, inputs, run_id: recorded in `slimline.json` (with the device and compute
            dtype used).
        runtime: where and in what dtype to train (default: auto, auto); the recovered
            checkpoint keeps the parent's stored dtype.
    """
    parent_meta = ArtifactMetadata.read(parent)
    skipped = isinstance(cfg, SkippedStage)
    with atomic_directory(out_dir) as tmp:
        losses: list[float] = []
        if skipped:
            pass_through(parent, tmp)
        else:
            losses, used = _recover(parent, teacher, tmp, cfg, texts,
                                    runtime or RuntimeConfig())
            inputs = {**inputs, **used}
        metrics = parameter_stats(tmp)
        if losses:
            tail = losses[-10:]
            metrics.update(train_loss_first=losses[0], train_loss_final=sum(tail) / len(tail))
        if skipped:
            story = "Recovery skipped (recover=none): the pruned checkpoint, unchanged."
        else:
            story = (f"`{parent_meta.digest[:12]}` fine-tuned with {cfg.method} (LoRA r="
                     f"{cfg.rank}, {cfg.steps} steps) and merged into plain weights.")
        digest = seal_artifact(tmp, stage="recovered", parent_digest=parent_meta.digest,
                               params=params, metrics=metrics, inputs=inputs, run_id=run_id,
                               title="recovered model", story=story).digest
    return RecoverResult(out_dir, digest, parent_meta.digest, metrics, skipped, losses)


def write_loss_curve(path: Path, losses: list[float]) -> None:
    """The loss curve as DVC plot data: a JSON list of {step, loss}."""
    from slimline._atomic import write_text_atomic

    rows = [{"step": i, "loss": round(v, 6)} for i, v in enumerate(losses)]
    write_text_atomic(path, json.dumps(rows) + "\n")
