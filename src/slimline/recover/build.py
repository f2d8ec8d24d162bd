"""Build `artifacts/recovered`: fine-tune the pruned model and merge, or pass it through."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from slimline.config import DistillRecoverConfig, LoraRecoverConfig, RuntimeConfig, SkippedStage
from slimline.lineage.metadata import Provenance
from slimline.model_stage import Made, StageResult, build_model_stage
from slimline.stages import model_stage

STAGE = model_stage("recovered")


def _placed(model_dir: Path, device):
    """A checkpoint on `device` in its stored dtype (on CPU: the file's memory-mapped pages,
    no copy). Returns (model, tokenizer, stored dtype)."""
    from slimline.checkpoint import load_checkpoint

    model, tokenizer = load_checkpoint(model_dir)
    return model.to(device), tokenizer, next(model.parameters()).dtype


def _activations_dominate(model, cfg: LoraRecoverConfig, compute_dtype) -> bool:
    """Whether a batch's activations kept for the backward pass (roughly 12 hidden-size and
    4 intermediate-size values per token and layer) outweigh the model's weights; then each
    decoder layer is recomputed in the backward pass instead (gradient checkpointing)."""
    c = model.config
    per_token = 12 * c.hidden_size + 4 * getattr(c, "intermediate_size", 4 * c.hidden_size)
    activations = (cfg.batch_size * cfg.seq_len * c.num_hidden_layers * per_token
                   * compute_dtype.itemsize)
    return activations > sum(p.numel() * p.element_size() for p in model.parameters())


def _merged(peft_model, stored, merge_dtype):
    """The adapters merged into plain weights in the stored dtype, one layer at a time: each
    base weight is cast to `merge_dtype`, merged by peft, and cast back, so no whole copy of
    the model in another dtype ever exists."""
    from peft.tuners.lora import LoraLayer

    for module in peft_model.modules():
        if isinstance(module, LoraLayer):
            weight = module.get_base_layer().weight
            weight.data = weight.data.to(merge_dtype)
            module.merge()
            weight.data = weight.data.to(stored)
    return peft_model.unload()


def _recover(parent: Path, teacher_dir: Path | None, tmp: Path, cfg: LoraRecoverConfig,
             texts: list[str], rt: RuntimeConfig) -> tuple[list[float], dict[str, str]]:
    import torch

    from slimline import runtime
    from slimline.checkpoint import token_stream
    from slimline.recover.mask import apply_masks, sparsity_masks
    from slimline.recover.train import add_adapters, train_adapters
    from slimline.recover.upcast import computing_in

    device, compute_dtype = rt.resolve()
    if device.type == "cpu":
        runtime.return_freed_memory()
    model, tokenizer, stored = _placed(parent, device)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    masks = sparsity_masks(model)  # a 2:4 sparse parent's zeros (none for a dense one)
    teacher = None
    if isinstance(cfg, DistillRecoverConfig):
        teacher, _, _ = _placed(teacher_dir, device)
        teacher.requires_grad_(False)
    use_cache = model.config.use_cache
    if device.type == "cuda" or _activations_dominate(model, cfg, compute_dtype):
        model.config.use_cache = False
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()  # peft: frozen embeddings, checkpointed blocks
    peft_model = add_adapters(model, cfg)  # only the adapters train
    # fp32 maths over bf16 weights (a CPU without native bf16): upcast per matmul, no fp32
    # copy of the model; lower precision on a GPU or a bf16 CPU: autocast.
    upcast = compute_dtype == torch.float32
    autocast = None if upcast else compute_dtype
    with ExitStack() as stack:
        for m in (peft_model, teacher) if upcast else ():
            if m is not None:
                stack.enter_context(computing_in(m, compute_dtype))
        losses = train_adapters(peft_model, token_stream(tokenizer, texts), cfg,
                                teacher=teacher, device=device, autocast=autocast)
    del teacher
    # Merged where it trained: in fp32 when upcast, else in the stored dtype.
    merged = _merged(peft_model, stored, torch.float32 if upcast else stored).to("cpu")
    apply_masks(merged, masks)  # the dense LoRA delta must not fill the pruned weights
    assert {k: tuple(v.shape) for k, v in merged.state_dict().items()} == shapes
    merged.config.use_cache = use_cache
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return losses, runtime.record(device, compute_dtype)


def recover_checkpoint(parent: Path, out_dir: Path,
                       cfg: LoraRecoverConfig | DistillRecoverConfig | SkippedStage, *,
                       texts: list[str], teacher: Path | None,
                       record: Provenance | None = None,
                       runtime: RuntimeConfig | None = None) -> StageResult:
    """Write the recovered checkpoint (or the parent unchanged for recover=none) atomically.

    Args:
        parent: the pruned checkpoint.
        out_dir: target directory (`artifacts/recovered`).
        cfg: the `recover` section.
        texts: recovery documents.
        teacher: the base checkpoint, loaded only for distillation.
        record: what to record in `slimline.json` (the device and compute dtype used are
            added to its inputs).
        runtime: where and in what dtype to train (default: auto, auto); the recovered
            checkpoint keeps the parent's stored dtype.

    Returns:
        The built stage; `extra["losses"]` holds the per-step training loss.
    """
    def transform(tmp: Path) -> Made:
        losses, used = _recover(parent, teacher, tmp, cfg, texts, runtime or RuntimeConfig())
        tail = losses[-10:]
        metrics = ({"train_loss_first": losses[0], "train_loss_final": sum(tail) / len(tail)}
                   if losses else {})
        return Made(metrics=metrics, inputs=used, extra={"losses": losses})

    def story(parent_digest: str | None, metrics: dict[str, float]) -> str:
        return (f"`{parent_digest[:12]}` fine-tuned with {cfg.method} (LoRA r="
                f"{cfg.rank}, {cfg.steps} steps) and merged into plain weights.")

    return build_model_stage(STAGE, parent, out_dir, record=record, story=story,
                             transform=None if isinstance(cfg, SkippedStage) else transform)


def write_loss_curve(path: Path, losses: list[float]) -> None:
    """The loss curve as DVC plot data: a JSON list of {step, loss}."""
    from slimline._atomic import write_text_atomic

    rows = [{"step": i, "loss": round(v, 6)} for i, v in enumerate(losses)]
    write_text_atomic(path, json.dumps(rows) + "\n")
