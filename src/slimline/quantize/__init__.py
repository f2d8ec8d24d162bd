"""The `quantize` stage: GPTQ, AWQ and round-to-nearest through llm-compressor.

`calibration` turns text into the exact token ids fed to the quantizer (and their digest),
`methods` maps names to llm-compressor modifiers, `check` holds the pre-calibration width
check and size accounting, `_compat` contains upstream workarounds, `build` the artifact.
"""

from slimline.quantize.build import quantize_checkpoint
from slimline.quantize.calibration import calibration_samples, token_digest
from slimline.quantize.methods import METHODS

__all__ = ["METHODS", "calibration_samples", "quantize_checkpoint",
           "token_digest"]
