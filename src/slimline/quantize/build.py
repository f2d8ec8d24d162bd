"""Build `artifacts/quantized`: calibrate and quantize with llm-compressor, or pass through."""

from __future__ import annotations

from pathlib import Path

from slimline.config import QuantizeConfig, RuntimeConfig, SkippedStage
from slimline.lineage.metadata import TOKENS_INPUT, Provenance
from slimline.model_stage import Made, StageResult, build_model_stage
from slimline.quantize.calibration import calibration_samples, token_digest
from slimline.quantize.methods import method_for
from slimline.stages import model_stage

STAGE = model_stage("quantized")


def _quantize(parent: Path, tmp: Path, cfg: QuantizeConfig, texts: list[str],
              rt: RuntimeConfig) -> tuple[str | None, dict[str, str]]:
    import torch
    from datasets import Dataset
    from llmcompressor import oneshot

    from slimline import runtime
    from slimline.checkpoint import load_checkpoint
    from slimline.quantize._compat import cpu_safe_awq
    from slimline.quantize._onload import calibrating_in, onload_to, plan_onload

    device, compute = rt.resolve()
    model, tokenizer = load_checkpoint(parent)  # on CPU, in its stored dtype
    method = method_for(cfg)
    method.check(model, cfg)  # before any calibration
    calibrated = method.calibrated(cfg)
    plan = plan_onload(calibrated, device, list(model._no_split_modules or []))
    digest, kwargs = None, {}
    if calibrated:
        samples = calibration_samples(tokenizer, texts, num_samples=cfg.num_samples,
                                      seq_len=cfg.seq_len, seed=cfg.seed)
        digest = token_digest(samples)
        kwargs = {"dataset": Dataset.from_dict(
                      {"input_ids": samples, "attention_mask": [[1] * len(s) for s in samples]}),
                  "num_calibration_samples": len(samples), "max_seq_length": cfg.seq_len,
                  "shuffle_calibration_samples": False}
    torch.manual_seed(cfg.seed)
    # llm-compressor computes in the weights' dtype (GPTQ's Hessian in fp32); on a CPU without
    # native bf16 the decoder layers run in fp32 while it calibrates, the weights staying in
    # their stored dtype. Data-free methods only read the weights. What was used is recorded.
    stored = next(model.parameters()).dtype
    upcast = calibrated and method.observes_layer_calls
    with cpu_safe_awq(), onload_to(plan.onload_device), \
            calibrating_in(model, plan.onload_device, compute if upcast else stored,
                           plan.sequential_targets) as used:
        oneshot(model=model, recipe=method.modifiers(cfg), **plan.oneshot_kwargs(), **kwargs)
    model.save_pretrained(tmp, save_compressed=True)
    tokenizer.save_pretrained(tmp)
    return digest, runtime.record(plan.onload_device, used)


def quantize_checkpoint(parent: Path, out_dir: Path, cfg: QuantizeConfig | SkippedStage, *,
                        texts: list[str], record: Provenance | None = None,
                        runtime: RuntimeConfig | None = None) -> StageResult:
    """Write the quantized checkpoint (or the parent unchanged for quantize=none) atomically.

    Args:
        parent: the recovered checkpoint.
        out_dir: target directory (`artifacts/quantized`).
        cfg: the `quantize` section.
        texts: calibration documents (tokenized here; their ids are what the digest names).
        record: what to record in `slimline.json` (the onload device, the dtype computed
            in and the calibration token-id digest are added to its inputs).
        runtime: the device layers are onloaded to, one at a time (default: auto); the
            model itself stays on the CPU.

    Returns:
        The built stage; `inputs["calibration_tokens"]` is the digest of the token ids
        calibrated on, when the method calibrates.
    """
    from slimline.quantize.check import weight_bytes

    def transform(tmp: Path) -> Made:
        calibration, used = _quantize(parent, tmp, cfg, texts, runtime or RuntimeConfig())
        return Made(metrics=weight_bytes(tmp),
                    inputs={**used, **({TOKENS_INPUT: calibration} if calibration
                                       else {})})

    def story(parent_digest: str | None, metrics: dict[str, float]) -> str:
        return (f"`{parent_digest[:12]}` quantized with {cfg.method.upper()} to "
                f"{method_for(cfg).describe(cfg)} in compressed-tensors format, loadable by "
                "transformers and vLLM.")

    return build_model_stage(STAGE, parent, out_dir, record=record, story=story,
                             transform=None if isinstance(cfg, SkippedStage) else transform)
