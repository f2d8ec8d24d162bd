"""Build `artifacts/quantized`: calibrate and quantize with llm-compressor, or pass through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline._atomic import atomic_directory
from slimline.checkpoint import parameter_stats, pass_through
from slimline.config import QuantizeConfig, RuntimeConfig, SkippedStage
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


def _quantize(parent: Path, tmp: Path, cfg: QuantizeConfig, texts: list[str],
              rt: RuntimeConfig) -> tuple[str | None, dict[str, str]]:
    import torch
    from datasets import Dataset
    from llmcompressor import oneshot

    from slimline import runtime
    from slimline.checkpoint import load_checkpoint
    from slimline.quantize._compat import cpu_safe_awq
    from slimline.quantize._onload import onload_to, plan_onload
    from slimline.quantize.check import check_group_widths

    device, _ = rt.resolve()
    model, tokenizer = load_checkpoint(parent)  # on CPU, in its stored dtype
    check_group_widths(model, cfg.group_size, list(cfg.ignore))
    method = METHODS[cfg.method]
    plan = plan_onload(method.needs_calibration, device, list(model._no_split_modules or []))
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
    # llm-compressor computes in the weights' stored dtype (GPTQ's Hessian in fp32), so
    # runtime.dtype does not apply here; what was used is recorded.
    stored = next(model.parameters()).dtype
    with cpu_safe_awq(), onload_to(plan.onload_device):
        oneshot(model=model, recipe=method.modifier(cfg), **plan.oneshot_kwargs(), **kwargs)
    model.save_pretrained(tmp, save_compressed=True)
    tokenizer.save_pretrained(tmp)
    return digest, runtime.record(plan.onload_device, stored)


def quantize_checkpoint(parent: Path, out_dir: Path, cfg: QuantizeConfig | SkippedStage, *,
                        texts: list[str], params: dict[str, Any], inputs: dict[str, str],
                        run_id: str | None = None,
                        runtime: RuntimeConfig | None = None) -> QuantizeResult:
    """Write the quantized checkpoint (or the parent unchanged for quantize=none) atomically.

    Args:
        parent: the recovered checkpoint.
        out_dir: target directory (`artifacts/quantized`).
        cfg: the `quantize` section.
        texts: calibration documents (tokenized here; their ids are what the digest names).
        params, inputs, run_id: recorded in `slimline.json` (with the onload device and
            the dtype computed in).
        runtime: the device layers are onloaded to, one at a time (default: auto); the
            model itself stays on the CPU.
    """
    from slimline.quantize.check import weight_bytes

    parent_meta = ArtifactMetadata.read(parent)
    skipped = isinstance(cfg, SkippedStage)
    with atomic_directory(out_dir) as tmp:
        calibration, used = None, {}
        if skipped:
            pass_through(parent, tmp)
        else:
            calibration, used = _quantize(parent, tmp, cfg, texts, runtime or RuntimeConfig())
        metrics = {**parameter_stats(tmp), **({} if skipped else weight_bytes(tmp))}
        all_inputs = {**inputs, **used,
                      **({"calibration_tokens": calibration} if calibration else {})}
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
