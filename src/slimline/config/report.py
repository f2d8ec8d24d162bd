"""The `report` section: side-by-side speed and the hardware-fit table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from slimline.config._section import _Section
from slimline.config.eval import SpeedConfig


class SideBySideSpeedConfig(SpeedConfig):
    """Every stage's model measured in one process, round-robin (the `speed` stage): the only
    speed the report compares across stages."""

    repeats: int = Field(5, gt=0, description="Timed repeats per round (median reported).")
    rounds: int = Field(3, gt=0, description="Round-robin passes over the stages; each "
                        "stage's number is the median of its rounds.")
    device: str = Field("auto", description="torch device: auto = cuda when present, else cpu.")


class FitConfig(_Section):
    """The report's hardware-fit table: weights + KV cache against GPU memory sizes."""

    contexts: list[int] = Field([2048, 8192, 32768], min_length=1, description="Context "
                                "lengths in tokens (capped at each model's "
                                "max_position_embeddings).")
    batch_sizes: list[int] = Field([1, 16], min_length=1, description="Concurrent sequences.")
    gpus_gib: list[float] = Field([24, 48, 80, 141], min_length=1, description="GPU memory "
                                  "sizes in GiB (vendors' \"80GB\" A100 has 80 GiB).")
    utilization: float = Field(0.9, gt=0, le=1, description="vLLM's gpu_memory_utilization: "
                               "the share of GPU memory for weights and KV cache.")
    reserve_gib: float = Field(0.0, ge=0, description="GiB set aside for activations and "
                               "CUDA graphs before the KV cache.")
    cache_dtype: Literal["auto", "float16", "bfloat16", "float32", "fp8"] = Field(
        "auto", description="KV-cache dtype; auto = the checkpoint's dtype (vLLM's default).")

    @model_validator(mode="after")
    def _positive(self) -> FitConfig:
        for name in ("contexts", "batch_sizes", "gpus_gib"):
            if any(v <= 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must all be positive")
        return self


class ReportConfig(_Section):
    """The report and the side-by-side speed measurement it reads.

    Example (conf/report/default.yaml)::

        speed: {prompt_tokens: 64, new_tokens: 32, rounds: 3}
        fit: {contexts: [2048, 8192], gpus_gib: [24, 80], utilization: 0.9}
    """

    speed: SideBySideSpeedConfig = SideBySideSpeedConfig()
    fit: FitConfig = FitConfig()
