"""The `base` stage: materialise and fingerprint the base checkpoint."""

from slimline.base.build import build_base
from slimline.checkpoint import count_parameters

__all__ = ["build_base", "count_parameters"]
