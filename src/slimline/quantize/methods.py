"""Quantization methods behind one entry each: name -> llm-compressor recipe, and its needs.

A method is one `Method` in `METHODS`: whether the pipeline must feed it calibration data,
the llm-compressor preset scheme it quantizes to (or None for the weight-only methods, whose
bits, group size and symmetry come from the config), and the modifiers it runs. The stage
asks the entry what it needs instead of branching on names; a new method is one entry here,
one name in `slimline.config.quantize` (a test keeps the two in step) and one YAML in
`conf/quantize/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from slimline.config import QuantizeConfig
from slimline.errors import SlimlineError

# llm-compressor's kv_cache_scheme per `quantize.kv_cache`: static per-tensor key/value
# scales, calibrated, as vLLM reads them for kv_cache_dtype=fp8.
KV_CACHE_SCHEMES: dict[str, dict[str, Any]] = {
    "fp8": {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False,
            "symmetric": True},
}

# The modifiers a method runs, given the keyword arguments of its quantizing modifier
# (`config_groups` or `scheme`/`targets`, `ignore`, `kv_cache_scheme` when asked for).
Recipe = Callable[[QuantizeConfig, dict[str, Any]], list]


@dataclass(frozen=True)
class Method:
    """One quantization method.

    Attributes:
        name: the `quantize.method` value.
        needs_calibration: whether the method itself runs calibration data (GPTQ, AWQ,
            SmoothQuant); a quantized KV cache calibrates any method (`calibrated`).
        recipe: builds the llm-compressor modifiers.
        scheme: the llm-compressor preset the weights (and activations) are quantized to;
            None for weight-only methods, whose scheme is built from bits/group_size.
        label: how the model card names the method.
        observes_layer_calls: whether calibration only watches the decoder layers' own
            calls (GPTQ, SmoothQuant), so on a CPU without native bf16 the layers may run in
            fp32 (`_onload.calibrating_in`); AWQ re-runs sub-modules on inputs it caught.
    """

    name: str
    needs_calibration: bool
    recipe: Recipe
    scheme: str | None = None
    label: str = ""
    observes_layer_calls: bool = True

    def calibrated(self, cfg: QuantizeConfig) -> bool:
        """Whether this run needs calibration data (the method's or the KV cache's)."""
        return self.needs_calibration or cfg.kv_cache != "none"

    def modifiers(self, cfg: QuantizeConfig) -> list:
        """The llm-compressor recipe for `cfg`."""
        kwargs: dict[str, Any] = {"ignore": list(cfg.ignore)}
        if self.scheme is None:
            kwargs["config_groups"] = _weight_only_groups(cfg)
        else:
            kwargs.update(scheme=self.scheme, targets=["Linear"])
        if cfg.kv_cache != "none":
            kwargs["kv_cache_scheme"] = dict(KV_CACHE_SCHEMES[cfg.kv_cache])
        return self.recipe(cfg, kwargs)

    def check(self, model: nn.Module, cfg: QuantizeConfig) -> None:
        """Refuse, before any calibration, what this method cannot do to `model`."""
        from slimline.quantize.check import check_group_widths, check_kv_cache

        if self.scheme is None:
            check_group_widths(model, cfg.group_size, list(cfg.ignore))
        if cfg.kv_cache != "none":
            check_kv_cache(model, cfg.kv_cache)

    def describe(self, cfg: QuantizeConfig) -> str:
        """What the weights became, for the model card."""
        if self.scheme is None:
            text = (f"{cfg.bits}-bit weights (group {cfg.group_size}, "
                    f"{'symmetric' if cfg.symmetric else 'asymmetric'})")
        else:
            text = self.label
        if cfg.kv_cache != "none":
            text += f" and an {cfg.kv_cache.upper()} KV cache (calibrated per-tensor scales)"
        return text


def _weight_only_groups(cfg: QuantizeConfig) -> dict:
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

    weights = QuantizationArgs(num_bits=cfg.bits, type="int", symmetric=cfg.symmetric,
                               strategy="group", group_size=cfg.group_size)
    return {"group_0": QuantizationScheme(targets=["Linear"], weights=weights)}


def _gptq(cfg: QuantizeConfig, quant: dict[str, Any]) -> list:
    from llmcompressor.modifiers.quantization import GPTQModifier

    return [GPTQModifier(**quant)]


def _awq(cfg: QuantizeConfig, quant: dict[str, Any]) -> list:
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from llmcompressor.modifiers.transform import AWQModifier

    # AWQ rescales the weights, then round-to-nearest quantizes them (llm-compressor 0.14).
    return [AWQModifier(), QuantizationModifier(**quant)]


def _round_to_nearest(cfg: QuantizeConfig, quant: dict[str, Any]) -> list:
    from llmcompressor.modifiers.quantization import QuantizationModifier

    return [QuantizationModifier(**quant)]


def _smoothquant_gptq(cfg: QuantizeConfig, quant: dict[str, Any]) -> list:
    from llmcompressor.modifiers.quantization import GPTQModifier
    from llmcompressor.modifiers.transform import SmoothQuantModifier

    # SmoothQuant moves activation outliers into the weights, then GPTQ quantizes them.
    return [SmoothQuantModifier(smoothing_strength=cfg.smoothing_strength),
            GPTQModifier(**quant)]


METHODS: dict[str, Method] = {
    "gptq": Method("gptq", needs_calibration=True, recipe=_gptq),
    "awq": Method("awq", needs_calibration=True, recipe=_awq, observes_layer_calls=False),
    "rtn": Method("rtn", needs_calibration=False, recipe=_round_to_nearest),
    "fp8": Method("fp8", needs_calibration=False, recipe=_round_to_nearest,
                  scheme="FP8_DYNAMIC",
                  label="FP8 (E4M3) weights with one scale per output channel and dynamic "
                        "per-token FP8 activations"),
    "w8a8": Method("w8a8", needs_calibration=True, recipe=_smoothquant_gptq, scheme="W8A8",
                   label="INT8 weights with one scale per output channel (SmoothQuant, then "
                         "GPTQ) and dynamic per-token INT8 activations"),
}


def method_for(cfg: QuantizeConfig) -> Method:
    """The registered method `cfg` names."""
    try:
        return METHODS[cfg.method]
    except KeyError:
        raise SlimlineError(f"quantize.method={cfg.method} is not a registered method: use "
                            f"one of {', '.join(METHODS)}.") from None
