"""Text for every stage: the built-in corpus and the calibration/recovery/evaluation splits."""

from slimline.data.corpus import build_corpus
from slimline.data.splits import (
    SPLITS,
    SplitInfo,
    build_splits,
    read_documents,
    read_manifest,
    read_split,
)

__all__ = ["SPLITS", "SplitInfo", "build_corpus", "build_splits", "read_documents",
           "read_manifest", "read_split"]
