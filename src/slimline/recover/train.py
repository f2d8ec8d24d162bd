"""The recovery loop: LoRA adapters trained with the LM loss, a distillation loss or both."""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from slimline.chunked_loss import causal_lm_loss
from slimline.config import DistillRecoverConfig, LoraRecoverConfig
from slimline.errors import SlimlineError


def add_adapters(model, cfg: LoraRecoverConfig):
    """Wrap `model` with LoRA adapters on `cfg.target_modules` (seeded initialisation)."""
    from peft import LoraConfig, get_peft_model

    from slimline.prune.architectures import lora_targets

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = sorted(set(cfg.target_modules) - present)
    if missing:
        known = lora_targets(model.config.model_type)
        hint = (f"for {model.config.model_type}: recover.target_modules=[{','.join(known)}]"
                if known else f"e.g. {sorted(present)[:8]}")
        raise SlimlineError(f"recover.target_modules names {missing}, which the model does not "
                            f"have: pick from its linear layers ({hint}).")
    torch.manual_seed(cfg.seed)
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=list(cfg.target_modules), bias="none",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def _lr(step: int, cfg: LoraRecoverConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def train_adapters(model, stream: torch.Tensor, cfg: LoraRecoverConfig, teacher=None, *,
                   device: torch.device | None = None,
                   autocast: torch.dtype | None = None) -> list[float]:
    """Train the adapters of `model` on random windows of `stream`; return the loss curve.

    With a DistillRecoverConfig the teacher's logits (computed without gradients, frozen, on
    the same device) enter the loss; otherwise it is the plain next-token loss. Either is
    computed a chunk of tokens at a time when a batch's full logits would be large
    (`slimline.chunked_loss`).

    Args:
        model: a peft model already on `device`.
        stream: token ids (on CPU); batches are sampled here and moved to `device`.
        cfg: the `recover` section.
        teacher: the frozen base model for distillation, on `device`.
        device: where the model is (default: CPU).
        autocast: run forward passes under autocast to this dtype (e.g. bf16 on CUDA);
            None = in the weights' own dtype.
    """
    device = device or torch.device("cpu")
    if stream.numel() <= cfg.seq_len:
        raise SlimlineError(f"the recovery split has {stream.numel()} tokens, fewer than "
                            f"recover.seq_len={cfg.seq_len}: use more data or a shorter seq_len.")
    distill = isinstance(cfg, DistillRecoverConfig)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    offsets = torch.arange(cfg.seq_len)
    losses: list[float] = []
    model.train()
    bar = tqdm(range(cfg.steps), desc=f"recover ({cfg.method})", unit="step", mininterval=2.0)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr(step, cfg)
        starts = torch.randint(0, stream.numel() - cfg.seq_len, (cfg.batch_size,), generator=gen)
        batch = stream[starts[:, None] + offsets].to(device)
        with torch.autocast(device.type, dtype=autocast or torch.float32,
                            enabled=autocast is not None):
            lm, kd = causal_lm_loss(model, batch, teacher=teacher if distill else None,
                                    temperature=getattr(cfg, "temperature", 1.0))
            loss = cfg.kd_weight * kd + (1 - cfg.kd_weight) * lm if distill else lm
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.eval()
    return losses
