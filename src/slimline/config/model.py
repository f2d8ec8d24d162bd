"""The `model` section: the embedded tiny base or an existing checkpoint."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from slimline.config._section import _Section


class TinyTrainConfig(_Section):
    steps: int = Field(224, gt=0, description="Optimizer steps (the budget; not wall time).")
    batch_size: int = Field(32, gt=0, description="Sequences per step.")
    seq_len: int = Field(128, gt=1, description="Tokens per training sequence.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate of AdamW.")
    warmup_steps: int = Field(30, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay.")
    seed: int = Field(0, description="Seed for initialisation and batch sampling.")
    threads: int | None = Field(None, gt=0, description="torch threads; null = all cores.")
    bf16_autocast: bool = Field(
        False, description="Train under bf16 autocast: a win only with native bf16 (AMX).")
    max_minutes: float | None = Field(
        15, gt=0, description="Wall-clock guard: fail instead of training for longer.")


TINY_DEPS = "src/slimline/base/_tiny.py"
BUILTIN_DEPS = "src/slimline/data/corpus.py"


class TinyModelConfig(_Section):
    """The embedded default: a small Llama trained from scratch on the built-in corpus."""

    kind: Literal["tiny"] = "tiny"
    name: str = Field("tiny-llama", description="Name used in lineage and the registry.")
    vocab_size: int = Field(1024, gt=3, description="BPE vocabulary asked of the trainer.")
    hidden_size: int = Field(128, gt=0)
    intermediate_size: int = Field(512, gt=0, description="MLP width (multiple of 128).")
    num_hidden_layers: int = Field(4, gt=0)
    num_attention_heads: int = Field(4, gt=0)
    num_key_value_heads: int = Field(2, gt=0)
    max_position_embeddings: int = Field(128, gt=0)
    train: TinyTrainConfig = TinyTrainConfig()
    deps: str = Field(TINY_DEPS, description="What DVC watches for the base (derived).")

    @model_validator(mode="after")
    def _shapes(self) -> TinyModelConfig:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        if self.train.seq_len > self.max_position_embeddings:
            raise ValueError("train.seq_len must not exceed max_position_embeddings")
        if self.deps != TINY_DEPS:
            raise ValueError(f"deps is derived ({TINY_DEPS} for the tiny base); do not set it")
        return self


class HFModelConfig(_Section):
    """An existing checkpoint: a local directory or a hub id (resolved from the local cache
    when offline)."""

    kind: Literal["hf"] = "hf"
    name: str = Field(description="Name this base goes by in lineage and the registry.")
    source: str = Field(description="Local checkpoint directory or hub id (org/name).")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    link: bool = Field(
        True, description="Hard-link local files into artifacts/base instead of copying.")
    deps: str | None = Field(
        None, description="What DVC watches for the base (derived: the source directory).")

    @model_validator(mode="after")
    def _deps(self) -> HFModelConfig:
        if self.deps is not None and self.deps != self.source:
            raise ValueError("deps is derived from model.source; do not set it")
        return self


ModelConfig = Annotated[TinyModelConfig | HFModelConfig, Field(discriminator="kind")]
