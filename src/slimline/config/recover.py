"""The `recover` section: LoRA fine-tuning or distillation, merged; or none."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from slimline.config._section import SkippedStage, _Section
from slimline.prune.architectures import DEFAULT_LORA_TARGETS  # torch-free


class LoraRecoverConfig(_Section):
    """A short LoRA fine-tune on the recovery split, merged back into plain weights.

    Example (conf/recover/lora.yaml)::

        method: lora
        rank: 8
        steps: 64
    """

    method: Literal["lora"] = "lora"
    rank: int = Field(8, gt=0, description="LoRA rank r.")
    alpha: float = Field(16, gt=0, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_LORA_TARGETS),
                                      description="Linear layers that get adapters (default: "
                                      "every projection of a Llama-like layer).")
    lr: float = Field(2e-3, gt=0, description="Peak learning rate of AdamW.")
    steps: int = Field(64, gt=0, description="Optimizer steps.")
    warmup_steps: int = Field(10, ge=0)
    batch_size: int = Field(16, gt=0)
    seq_len: int = Field(128, gt=1)
    seed: int = Field(0, description="Seed for adapter initialisation and batch sampling.")


class DistillRecoverConfig(LoraRecoverConfig):
    """LoRA trained to match the base model's logits (Minitron-style distillation).

    loss = kd_weight * T^2 * KL(teacher_T || student_T) + (1 - kd_weight) * LM loss
    """

    method: Literal["distill"] = "distill"  # type: ignore[assignment]
    temperature: float = Field(2.0, gt=0, description="Softmax temperature T of both models.")
    kd_weight: float = Field(1.0, ge=0, le=1, description="Share of the KL term in the loss.")


RecoverStageConfig = Annotated[SkippedStage | LoraRecoverConfig | DistillRecoverConfig,
                               Field(discriminator="method")]
