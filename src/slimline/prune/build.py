"""Build `artifacts/pruned`: prune the parent checkpoint, or pass it through for prune=none.

Besides the checkpoint it writes `kept_indices.json` and the importance scores
(`importance.safetensors` + `importance.json`), so pruning the same parent at another ratio
can skip the backward pass.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

from slimline._digest import file_sha256
from slimline.checkpoint import count_parameters
from slimline.config import PruneConfig, RuntimeConfig, SkippedStage
from slimline.config.prune import DepthPruneConfig, Sparse24PruneConfig
from slimline.errors import SlimlineError
from slimline.lineage.metadata import TOKENS_INPUT, ArtifactMetadata, Provenance
from slimline.model_stage import Made, StageResult, build_model_stage
from slimline.stages import model_stage

KEPT_FILE = "kept_indices.json"
STAGE = model_stage("pruned")


def _token_digest(batches: list) -> str:
    """sha256 over the exact ids fed to the backward pass, the same scheme as
    `slimline.quantize.calibration.token_digest` (not imported: that package pulls in
    llm-compressor, seconds of start-up and memory this stage does not need)."""
    h = hashlib.sha256()
    for sample in (row for batch in batches for row in batch):
        arr = sample.numpy().astype("<i8")
        h.update(len(arr).to_bytes(8, "little"))
        h.update(arr.tobytes())
    return h.hexdigest()


def _prune(parent: Path, tmp: Path, cfg: PruneConfig, texts: list[str], parent_digest: str,
           scores_from: Path | None, rt: RuntimeConfig,
           ) -> tuple[list[dict], dict[str, float], dict[str, str]]:
    import torch

    from slimline import runtime
    from slimline.checkpoint import load_checkpoint, token_stream, windows
    from slimline.prune.apply import prune_layers
    from slimline.prune.importance import NEEDS_CALIBRATION
    from slimline.prune.plan import make_plan, rounding_notices
    from slimline.prune.scores import SCORES_FILE, compute_scores, load_scores, save_scores
    from slimline.prune.structure import model_shape

    device, compute_dtype = rt.resolve()
    model, tokenizer = load_checkpoint(parent)  # weights stay in their stored dtype
    model.to(device)
    shape = model_shape(model.config)
    plan = make_plan(shape, model.config.hidden_size, channel_ratio=cfg.channel_ratio,
                     head_ratio=cfg.head_ratio, kv_group_ratio=cfg.kv_group_ratio,
                     round_to=cfg.round_to)
    # The achieved shares are recorded as channels/heads_removed_share; say when they differ.
    for notice in rounding_notices(plan, channel_ratio=cfg.channel_ratio,
                                   head_ratio=cfg.head_ratio,
                                   kv_group_ratio=cfg.kv_group_ratio, round_to=cfg.round_to):
        print(f"notice: {notice}")
    metrics: dict[str, float] = {}
    if scores_from is not None:
        scores, meta = load_scores(scores_from, shape=shape, parent_digest=parent_digest)
        if meta.get("estimator") != cfg.estimator:
            raise SlimlineError(f"the scores in {scores_from} come from estimator "
                                f"{meta.get('estimator')!r}, not prune.estimator="
                                f"{cfg.estimator!r}: use matching ones or recompute.")
        # Who made the scores is what this prune's importance rests on.
        inputs = {k: meta[k] for k in ("device", "compute_dtype", TOKENS_INPUT)
                  if k in meta}
        inputs["importance_scores"] = file_sha256(Path(scores_from) / SCORES_FILE)
    else:
        batches = []
        if cfg.estimator in NEEDS_CALIBRATION:  # a backward or a forward pass
            chunks = windows(token_stream(tokenizer, texts), cfg.seq_len,
                             limit=cfg.num_batches * cfg.batch_size)
            batches = [torch.stack(chunks[i:i + cfg.batch_size])
                       for i in range(0, len(chunks), cfg.batch_size)]
        start = time.perf_counter()
        scores = compute_scores(model, plan, cfg.estimator, batches, seed=cfg.seed,
                                compute_dtype=compute_dtype, device=device)
        if batches:
            seconds = time.perf_counter() - start
            tokens = sum(b.numel() for b in batches)
            metrics = {"importance_seconds": seconds, "importance_tokens_per_s": tokens / seconds}
        inputs = {**runtime.record(device, compute_dtype),
                  **({TOKENS_INPUT: _token_digest(batches)} if batches else {})}
        meta = {"estimator": cfg.estimator, "num_batches": len(batches),
                "batch_size": cfg.batch_size, "seq_len": cfg.seq_len, "seed": cfg.seed,
                "parent_digest": parent_digest, "shape": asdict(shape), **inputs}
    kept = prune_layers(model, plan, scores)
    metrics.update(
        channels_removed_share=1 - plan.after.intermediate_size / plan.before.intermediate_size,
        heads_removed_share=1 - plan.after.num_attention_heads / plan.before.num_attention_heads)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / KEPT_FILE).write_text(json.dumps(kept) + "\n")
    save_scores(tmp, scores, meta)
    return kept, metrics, inputs


def _other_method(parent: Path, cfg: DepthPruneConfig | Sparse24PruneConfig, texts: list[str],
                  runtime: RuntimeConfig | None):
    """The transform and model-card story of prune=depth and prune=sparse24."""
    if isinstance(cfg, DepthPruneConfig):
        from slimline.prune.depth import write_depth_pruned as write

        def story(parent_digest: str | None, metrics: dict[str, float]) -> str:
            return (f"Depth pruning of `{parent_digest[:12]}` by block influence: "
                    f"{metrics['layers_removed_share']:.0%} of decoder blocks removed, "
                    f"{metrics['params_removed_share']:.1%} of parameters.")
    else:
        from slimline.prune.sparse import write_sparse24 as write

        def story(parent_digest: str | None, metrics: dict[str, float]) -> str:
            return (f"2:4 sparsity ({cfg.algorithm}) of `{parent_digest[:12]}`: 2 of every 4 "
                    f"weights zero in {metrics['sparse_layers']:.0f} linear layers, stored "
                    "dense.")

    def transform(tmp: Path) -> Made:
        metrics, inputs = write(parent, tmp, cfg, texts, runtime or RuntimeConfig())
        return Made(metrics=metrics, inputs=inputs)

    return transform, story


def prune_checkpoint(parent: Path, out_dir: Path,
                     cfg: PruneConfig | DepthPruneConfig | Sparse24PruneConfig | SkippedStage, *,
                     texts: list[str], record: Provenance | None = None,
                     scores: Path | None = None,
                     runtime: RuntimeConfig | None = None) -> StageResult:
    """Write the pruned checkpoint (or the parent unchanged for prune=none) atomically.

    Args:
        parent: the base checkpoint directory.
        out_dir: target directory (`artifacts/pruned`).
        cfg: the `prune` section.
        texts: calibration documents for the gradients of the Taylor estimators.
        record: what to record in `slimline.json` (the runtime and the digest of the
            calibration token ids are added to its inputs).
        scores: a pruned artifact of the same parent and estimator whose importance scores
            to reuse instead of running the backward pass (`texts` is then not read).
        runtime: where and in what dtype to compute (default: auto, auto); the pruned
            checkpoint keeps the parent's stored dtype.

    Returns:
        The built stage; `extra["kept"]` holds each layer's kept indices.
    """
    def transform(tmp: Path) -> Made:
        parent_digest = ArtifactMetadata.read(parent).digest
        kept, shares, inputs = _prune(parent, tmp, cfg, texts, parent_digest, scores,
                                      runtime or RuntimeConfig())
        return Made(metrics=shares, inputs=inputs, extra={"kept": kept})

    before = count_parameters(parent)

    def measure(metrics: dict[str, float]) -> dict[str, float]:
        return {"channels_removed_share": 0.0, "heads_removed_share": 0.0, **metrics,
                "num_parameters_before": before,
                "params_removed_share": 1 - metrics["num_parameters"] / before}

    def story(parent_digest: str | None, metrics: dict[str, float]) -> str:
        return (f"Structured pruning of `{parent_digest[:12]}` with {cfg.estimator} "
                f"importance: {metrics['params_removed_share']:.1%} of parameters removed.")

    if isinstance(cfg, DepthPruneConfig | Sparse24PruneConfig):
        transform, story = _other_method(parent, cfg, texts, runtime)
    return build_model_stage(STAGE, parent, out_dir, record=record, story=story,
                             measure=measure,
                             transform=None if isinstance(cfg, SkippedStage) else transform)
