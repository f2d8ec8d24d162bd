"""Held-out perplexity: the sensitive number for compression, computed in plain torch.

Documents are tokenized as BOS + text + EOS, concatenated and cut into non-overlapping
windows of `seq_len`; every token after a window's first is scored once. A batch's logits
are computed a chunk of tokens at a time when the vocabulary makes them large.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from slimline.checkpoint import token_stream, windows
from slimline.chunked_loss import next_token_nll


@torch.inference_mode()
def perplexity(model, tokenizer, texts: Sequence[str], *, seq_len: int, batch_size: int,
               max_tokens: int | None = None) -> dict[str, float]:
    """Token perplexity, mean NLL and bits per UTF-8 byte of `texts` under `model`."""
    stream = token_stream(tokenizer, texts)
    total_bytes = sum(len(t.encode("utf-8")) + 1 for t in texts)
    total_tokens = stream.numel()
    if max_tokens is not None:
        stream = stream[:max_tokens]
    chunks = windows(stream, seq_len)
    nll_sum, scored = 0.0, 0
    device = next(model.parameters()).device
    model.eval()
    for start in tqdm(range(0, len(chunks), batch_size), desc="perplexity", unit="batch",
                      mininterval=2.0):
        batch = chunks[start:start + batch_size]
        width = min(len(w) for w in batch)
        x = torch.stack([w[:width] for w in batch]).to(device)
        nll_sum += next_token_nll(model, x).item()  # full logits only when they are small
        scored += x[:, 1:].numel()
    mean_nll = nll_sum / scored
    # Bytes in proportion to the tokens scored, so a max_tokens limit keeps units honest.
    bytes_scored = total_bytes * scored / total_tokens
    return {
        "perplexity": math.exp(mean_nll),
        "nll": mean_nll,
        "bits_per_byte": nll_sum / math.log(2) / bytes_scored,
        "eval_tokens": float(scored),
    }


def checkpoint_perplexity(model_dir, texts: Sequence[str], *, seq_len: int = 128,
                          batch_size: int = 8) -> float:
    """Stream perplexity of the checkpoint in `model_dir`: the quick number the bench/
    scripts compare (the pipeline's suite reports lm-eval's per-document perplexities)."""
    from slimline.checkpoint import load_checkpoint

    model, tokenizer = load_checkpoint(model_dir)
    return perplexity(model, tokenizer, texts, seq_len=seq_len, batch_size=batch_size)["perplexity"]
