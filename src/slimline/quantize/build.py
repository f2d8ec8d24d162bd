"""Build `artifacts/quantized`: calibrate and quantize with llm-compressor, or pass through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline._atomic import atomic_directory
from slimline.checkpoint import parameter_stats, pass_through
from slimline.config import QuantizeConfig, SkippedStage
from slimline.lineage.metadata import ArtifactMetadata, seal_artifact
from slimline.quantize.calibration import calibration_samples, token_digest
from slimline.quantize.methods import METHODS


@dataclass
class QuantizeResult:
    path: Path
    digest: str
    parent_digest: str
    calibration_digest: str | None
    metrics: dict[str, float]
    skipped: bool


def _quantize(parent: Path, tmp: Path, cfg: QuantizeConfig, texts: list[str]) -> str | None:
    import torch
    from datasets import Dataset
    from llmcompressor import oneshot

    from slimline.checkpoint import load_checkpoint
    from slimline.quantize._compat import cpu_safe_awq
    from slimline.quantize.check import check_group_widths

    model, tokenizer = load_checkpoint(parent)
    check_group_widths(model, cfg.group_size, list(cfg.ignore))
    method = METHODS[cfg.method]
    digest, kwargs = None, {}
    if method.needs_calibration:
        samples = calibration_samples(tokenizer, texts, num_samples=cfg.num_samples,
                                      seq_len=cfg.seq_len, seed=cfg.seed)
        digest = token_digest(samples)
        kwargs = {"dataset": Dataset.from_dict(
                      {"input_ids": samples, "attention_mask": [[1] * len(s) for s in samples]}),
                  "num_calibration_samples": len(samples), "max_seq_length": cfg.seq_len,
                  "shuffle_calibration_samples": False}
    torch.manual_seed(cfg.seed)
    with cpu_safe_awq():
        oneshot(model=model, recipe=method.modifier(cfg), **kwargs)
    model.save_pretrained(tmp, save_compressed=True)
    tokenizer.save_pretrained(tmp)
    return digest


def quantize_checkpoint(parent: Path, out_dir: Path, cfg: QuantizeConfig | SkippedStage, *,
                        texts: list[str], params: dict[str, Any], inputs: dict[str, str],
                        run_id: str | None = None) -> QuantizeResult:
    """Write the quantized checkpoint (or the parent unchanged for quantize=none) atomically.

    Args:
        parent: the recovered checkpoint.
        out_dir: target directory (`artifacts/quantized`).
        cfg: the `quantize` section.
        texts: calibration documents (tokenized here; their ids are what the digest names).
        params, inputs, run_id: recorded in `slimline.json`.
    """
    from slimline.quantize.check import weight_bytes

    parent_meta = ArtifactMetadata.read(parent)
    skipped = isinstance(cfg, SkippedStage)
    with atomic_directory(out_dir) as tmp:
        calibration = None
        if skipped:
            pass_through(parent, tmp)
        else:
            calibration = _quantize(parent, tmp, cfg, texts)
        metrics = {**parameter_stats(tmp), **({} if skipped else weight_bytes(tmp))}
        all_inputs = {**inputs, **({"calibration_tokens": calibration} if calibration else {})}
        if skipped:
            story = "Quantization skipped (quantize=none): the recovered checkpoint, unchanged."
        else:
            story = (f"`{parent_meta.digest[:12]}` quantized with {cfg.method.upper()} to "
                     f"{cfg.bits}-bit weights (group {cfg.group_size}, "
                     f"{'symmetric' if cfg.symmetric else 'asymmetric'}) in compressed-tensors "
                     "format, loadable by transformers and vLLM.")
        digest = seal_artifact(tmp, stage="quantized", parent_digest=parent_meta.digest,
                               params=params, metrics=metrics, inputs=all_inputs,
                               run_id=run_id, title="quantized model", story=story).digest
    return QuantizeResult(out_dir, digest, parent_meta.digest, calibration, metrics, skipped)
