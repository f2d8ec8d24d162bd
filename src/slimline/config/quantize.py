"""The `quantize` section: post-training quantization through llm-compressor, or none."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from slimline.config._section import SkippedStage, _Section

# Methods whose format is fixed by their llm-compressor preset (8-bit, one scale per output
# channel, symmetric), so `bits`, `group_size` and `symmetric` do not apply to them. The
# registry (`slimline.quantize.methods.METHODS`) is checked against this and the `method`
# Literal by a test: config stays free of torch and llm-compressor imports.
FIXED_FORMAT_METHODS = frozenset({"fp8", "w8a8"})
# What a fixed-format method's weights are, for the keys that have a value for it.
_FIXED_FORMAT = {"bits": 8, "symmetric": True}
# Group sizes vLLM's compressed-tensors W4A16/W8A16 kernels (Marlin) serve.
SERVED_GROUP_SIZES = (32, 64, 128)


class QuantizeConfig(_Section):
    """Post-training quantization through llm-compressor (compressed-tensors output).

    Weight-only methods (`gptq`, `awq`, `rtn`) take `bits`, `group_size` and `symmetric`;
    `fp8` and `w8a8` quantize weights and activations to 8 bits in a fixed format.

    Example (conf/quantize/gptq.yaml)::

        method: gptq
        bits: 4
        group_size: 128
        symmetric: true
        ignore: [lm_head]
    """

    method: Literal["gptq", "awq", "rtn", "fp8", "w8a8"] = Field(
        "gptq", description="Weight-only GPTQ (Frantar et al. 2022), AWQ (Lin et al. 2023) or "
        "round-to-nearest; fp8 (FP8 weights, dynamic per-token FP8 activations, no "
        "calibration); w8a8 (INT8 weights and activations, SmoothQuant + GPTQ).")
    bits: Literal[4, 8] = Field(4, description="Weight bits of the weight-only methods "
                                "(activations stay 16-bit).")
    group_size: int = Field(128, gt=0, description="Input columns sharing one scale "
                            "(weight-only methods).")
    symmetric: bool = Field(True, description="Symmetric (no zero point) or asymmetric "
                            "(weight-only methods).")
    kv_cache: Literal["none", "fp8"] = Field(
        "none", description="Quantize the KV cache too: fp8 stores calibrated per-tensor "
        "key/value scales that vLLM uses with kv_cache_dtype=fp8 (calibrates any method).")
    smoothing_strength: float = Field(0.8, gt=0, lt=1, description="SmoothQuant's alpha: "
                                      "how much activation range moves into the weights "
                                      "(w8a8 only).")
    ignore: list[str] = Field(default_factory=lambda: ["lm_head"],
                              description="Layers left unquantized (names or re:patterns).")
    num_samples: int = Field(64, gt=0, description="Calibration sequences.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed for choosing calibration sequences.")

    @model_validator(mode="before")
    @classmethod
    def _fixed_format_bits(cls, values):
        """A fixed-format method's weights are 8-bit; say so instead of the default 4."""
        if isinstance(values, dict) and values.get("method") in FIXED_FORMAT_METHODS:
            return {"bits": _FIXED_FORMAT["bits"], **values}
        return values

    # Field validators run on values given explicitly (defaults are not validated), so a
    # fixed-format method is refused only when a weight-only key is set for it.
    @field_validator("bits", "symmetric", "group_size")
    @classmethod
    def _applies_to_method(cls, value, info: ValidationInfo):
        method = info.data.get("method")
        fixed = _FIXED_FORMAT.get(info.field_name)
        if method in FIXED_FORMAT_METHODS and (fixed is None or value != fixed):
            raise ValueError(
                f"{info.field_name}={value} does not apply to method={method}, whose format "
                "is fixed (8-bit, symmetric, one scale per output channel): remove the key, "
                f"or compose quantize={method} instead of overriding quantize.method")
        if info.field_name == "group_size" and value not in SERVED_GROUP_SIZES:
            raise ValueError(
                f"group_size={value} is not served by vLLM's compressed-tensors kernels: "
                f"use one of {', '.join(map(str, SERVED_GROUP_SIZES))}")
        return value

    @model_validator(mode="after")
    def _eight_bit_weights_are_symmetric(self) -> QuantizeConfig:
        # vLLM's Marlin kernels take 8-bit weights only without zero points (uint8b128);
        # an asymmetric 8-bit checkpoint loads and then fails in the kernel.
        if self.method not in FIXED_FORMAT_METHODS and self.bits == 8 and not self.symmetric:
            raise ValueError(
                "quantize.bits=8 with quantize.symmetric=false is not served by vLLM's "
                "kernels (8-bit weights take no zero point): set quantize.symmetric=true or "
                "quantize.bits=4")
        return self

    @field_validator("smoothing_strength")
    @classmethod
    def _smoothing_needs_w8a8(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("method") != "w8a8":
            raise ValueError(f"smoothing_strength applies to method=w8a8 only, not "
                             f"method={info.data.get('method')}: remove the key")
        return value


QuantizeStageConfig = Annotated[SkippedStage | QuantizeConfig, Field(discriminator="method")]
