"""Quantization methods behind one entry: name -> llm-compressor modifier, and what it needs."""

from __future__ import annotations

from dataclasses import dataclass

from slimline.config import QuantizeConfig


@dataclass(frozen=True)
class Method:
    """A method and whether the pipeline must feed it calibration data."""

    name: str
    needs_calibration: bool

    def modifier(self, cfg: QuantizeConfig):
        from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

        weights = QuantizationArgs(num_bits=cfg.bits, type="int", symmetric=cfg.symmetric,
                                   strategy="group", group_size=cfg.group_size)
        groups = {"group_0": QuantizationScheme(targets=["Linear"], weights=weights)}
        if self.name == "gptq":
            from llmcompressor.modifiers.quantization import GPTQModifier

            return GPTQModifier(config_groups=groups, ignore=list(cfg.ignore))
        if self.name == "awq":
            from llmcompressor.modifiers.awq import AWQModifier

            return AWQModifier(config_groups=groups, ignore=list(cfg.ignore))
        from llmcompressor.modifiers.quantization import QuantizationModifier

        return QuantizationModifier(config_groups=groups, ignore=list(cfg.ignore))


METHODS = {
    "gptq": Method("gptq", needs_calibration=True),
    "awq": Method("awq", needs_calibration=True),
    "rtn": Method("rtn", needs_calibration=False),
}
