"""The calibration set as exact token ids, and its digest."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import numpy as np

from slimline.checkpoint import token_stream, windows
from slimline.errors import SlimlineError


def calibration_samples(tokenizer, texts: Sequence[str], *, num_samples: int, seq_len: int,
                        seed: int) -> list[list[int]]:
    """`num_samples` windows of `seq_len` token ids, chosen by `seed` from the split's stream."""
    chunks = [c for c in windows(token_stream(tokenizer, texts), seq_len) if c.numel() == seq_len]
    if len(chunks) < num_samples:
        raise SlimlineError(
            f"the calibration split gives {len(chunks)} windows of {seq_len} tokens, fewer "
            f"than quantize.num_samples={num_samples}: lower it or quantize.seq_len, or raise "
            "data.calibration.num_docs.")
    picked = sorted(random.Random(seed).sample(range(len(chunks)), num_samples))
    return [chunks[i].tolist() for i in picked]


def token_digest(samples: Sequence[Sequence[int]]) -> str:
    """sha256 over the exact ids, in order, with each sample's length: different text, order,
    length or tokenizer give a different digest."""
    h = hashlib.sha256()
    for sample in samples:
        arr = np.asarray(sample, dtype="<i8")
        h.update(len(arr).to_bytes(8, "little"))
        h.update(arr.tobytes())
    return h.hexdigest()
