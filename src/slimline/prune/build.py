"""Build `artifacts/pruned`: prune the parent checkpoint, or pass it through for prune=none."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimline._atomic import atomic_directory
from slimline.checkpoint import count_parameters, parameter_stats, pass_through
from slimline.config import PruneConfig, SkippedStage
from slimline.lineage.metadata import ArtifactMetadata, seal_artifact

KEPT_FILE = "kept_indices.json"


@dataclass
class PruneResult:
    path: Path
    digest: str
    parent_digest: str
    metrics: dict[str, float]
    skipped: bool
    kept: list[dict[str, list[int]]] = field(default_factory=list)


def _prune(parent: Path, tmp: Path, cfg: PruneConfig,
           texts: list[str]) -> tuple[list[dict], dict[str, float]]:
    from slimline.checkpoint import load_checkpoint, token_stream, windows
    from slimline.prune.apply import accumulate_gradients, prune_layers
    from slimline.prune.importance import NEEDS_GRADIENTS
    from slimline.prune.plan import make_plan
    from slimline.prune.structure import model_shape

    model, tokenizer = load_checkpoint(parent)
    plan = make_plan(model_shape(model.config), model.config.hidden_size,
                     channel_ratio=cfg.channel_ratio, head_ratio=cfg.head_ratio,
                     kv_group_ratio=cfg.kv_group_ratio, round_to=cfg.round_to)
    fisher = {}
    if cfg.estimator in NEEDS_GRADIENTS:
        chunks = windows(token_stream(tokenizer, texts), cfg.seq_len,
                         limit=cfg.num_batches * cfg.batch_size)
        import torch

        batches = [torch.stack(chunks[i:i + cfg.batch_size])
                   for i in range(0, len(chunks), cfg.batch_size)]
        fisher = accumulate_gradients(model, batches)
    kept = prune_layers(model, plan, cfg.estimator, fisher, seed=cfg.seed)
    shares = {
        "channels_removed_share": 1 - plan.after.intermediate_size / plan.before.intermediate_size,
        "heads_removed_share": 1 - plan.after.num_attention_heads / plan.before.num_attention_heads,
    }
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / KEPT_FILE).write_text(json.dumps(kept) + "\n")
    return kept, shares


def prune_checkpoint(parent: Path, out_dir: Path, cfg: PruneConfig | SkippedStage, *,
                     texts: list[str], params: dict[str, Any], inputs: dict[str, str],
                     run_id: str | None = None) -> PruneResult:
    """Write the pruned checkpoint (or the parent unchanged for prune=none) atomically.

    Args:
        parent: the base checkpoint directory.
        out_dir: target directory (`artifacts/pruned`).
        cfg: the `prune` section.
        texts: calibration documents for the gradients of the Taylor estimators.
        params, inputs, run_id: recorded in `slimline.json`.
    """
    parent_meta = ArtifactMetadata.read(parent)
    skipped = isinstance(cfg, SkippedStage)
    with atomic_directory(out_dir) as tmp:
        kept: list[dict] = []
        shares = {"channels_removed_share": 0.0, "heads_removed_share": 0.0}
        if skipped:
            pass_through(parent, tmp)
        else:
            kept, shares = _prune(parent, tmp, cfg, texts)
        metrics = {**shares, **parameter_stats(tmp)}
        before = count_parameters(parent)
        metrics.update(num_parameters_before=before,
                       params_removed_share=1 - metrics["num_parameters"] / before)
        if skipped:
            story = "Pruning skipped (prune=none): the base checkpoint, unchanged."
        else:
            story = (f"Structured pruning of `{parent_meta.digest[:12]}` with {cfg.estimator} "
                     f"importance: {metrics['params_removed_share']:.1%} of parameters removed.")
        digest = seal_artifact(tmp, stage="pruned", parent_digest=parent_meta.digest,
                               params=params, metrics=metrics, inputs=inputs, run_id=run_id,
                               title="pruned model", story=story).digest
    return PruneResult(out_dir, digest, parent_meta.digest, metrics, skipped, kept)
