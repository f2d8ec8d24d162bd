"""Build `artifacts/recovered`: fine-tune the pruned model and merge, or pass it through."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimline._atomic import atomic_directory
from slimline.checkpoint import parameter_stats, pass_through
from slimline.config import DistillRecoverConfig, LoraRecoverConfig, SkippedStage
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


def _recover(parent: Path, teacher_dir: Path | None, tmp: Path, cfg: LoraRecoverConfig,
             texts: list[str]) -> list[float]:
    from slimline.checkpoint import load_checkpoint, token_stream
    from slimline.recover.train import add_adapters, train_adapters

    model, tokenizer = load_checkpoint(parent)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    teacher = None
    if isinstance(cfg, DistillRecoverConfig):
        teacher, _ = load_checkpoint(teacher_dir)
        teacher.requires_grad_(False)
    peft_model = add_adapters(model, cfg)
    losses = train_adapters(peft_model, token_stream(tokenizer, texts), cfg, teacher=teacher)
    del teacher
    merged = peft_model.merge_and_unload()
    assert {k: tuple(v.shape) for k, v in merged.state_dict().items()} == shapes
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return losses


def recover_checkpoint(parent: Path, out_dir: Path,
                       cfg: LoraRecoverConfig | DistillRecoverConfig | SkippedStage, *,
                       texts: list[str], teacher: Path | None, params: dict[str, Any],
                       inputs: dict[str, str], run_id: str | None = None) -> RecoverResult:
    """Write the recovered checkpoint (or the parent unchanged for recover=none) atomically.

    Args:
        parent: the pruned checkpoint.
        out_dir: target directory (`artifacts/recovered`).
        cfg: the `recover` section.
        texts: recovery documents.
        teacher: the base checkpoint, loaded only for distillation.
        params, inputs, run_id: recorded in `slimline.json`.
    """
    parent_meta = ArtifactMetadata.read(parent)
    skipped = isinstance(cfg, SkippedStage)
    with atomic_directory(out_dir) as tmp:
        losses: list[float] = []
        if skipped:
            pass_through(parent, tmp)
        else:
            losses = _recover(parent, teacher, tmp, cfg, texts)
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
