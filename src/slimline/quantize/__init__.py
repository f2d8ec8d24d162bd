"""The `quantize` stage: GPTQ, AWQ, round-to-nearest, FP8 and INT8 W8A8 through
llm-compressor.

`calibration` turns text into the exact token ids fed to the quantizer (and their digest),
`methods` is the registry (one `Method` per name: its llm-compressor recipe and what it
needs), `check` holds the pre-calibration checks and size accounting, `_compat` contains
upstream workarounds, `build` the artifact.
"""

from slimline.quantize.build import quantize_checkpoint
from slimline.quantize.calibration import calibration_samples, token_digest
from slimline.quantize.methods import METHODS

__all__ = ["METHODS", "calibration_samples", "quantize_checkpoint",
           "token_digest"]
