"""The `quantize` section: post-training quantization through llm-compressor, or none."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from slimline.config._section import SkippedStage, _Section


class QuantizeConfig(_Section):
    """Post-training weight quantization through llm-compressor (compressed-tensors output).

    Example (conf/quantize/gptq.yaml)::

        method: gptq
        bits: 4
        group_size: 128
        symmetric: true
        ignore: [lm_head]
    """

    method: Literal["gptq", "awq", "rtn"] = Field(
        "gptq", description="GPTQ (Frantar et al. 2022), AWQ (Lin et al. 2023) or "
        "round-to-nearest.")
    bits: Literal[4, 8] = Field(4, description="Weight bits (activations stay 16-bit).")
    group_size: int = Field(128, gt=0, description="Input columns sharing one scale.")
    symmetric: bool = Field(True, description="Symmetric (no zero point) or asymmetric.")
    ignore: list[str] = Field(default_factory=lambda: ["lm_head"],
                              description="Layers left unquantized (names or re:patterns).")
    num_samples: int = Field(64, gt=0, description="Calibration sequences.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed for choosing calibration sequences.")


QuantizeStageConfig = Annotated[SkippedStage | QuantizeConfig, Field(discriminator="method")]
