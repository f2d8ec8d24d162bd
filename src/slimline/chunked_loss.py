"""Next-token loss (and distillation KL) of a causal LM without full-size logits.

A batch of 16 x 128 tokens over Qwen2.5's 151,936-token vocabulary has 1.24 GB of fp32 logits,
and the loss keeps several tensors that size (logits, log-softmax, their gradients): more
than the 0.5B model's weights. Here the decoder body runs once for the hidden states, then
the output head and the loss run over chunks of tokens, each under `torch.utils.checkpoint`
so its logits are recomputed in the backward pass instead of kept. When the whole logits
fit one chunk, the loss is computed by the model's own `labels=` path, bit for bit as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from slimline.recover.losses import kd_loss, kl_sum

CHUNK_BYTES = 64 * 2**20  # fp32 logits of one chunk of tokens; a backward pass holds ~4x that
IGNORE = -100  # transformers' ignore_index


def chunk_rows(vocab: int, chunk_bytes: int | None = None) -> int:
    """How many tokens' fp32 logits fit in `chunk_bytes` (default CHUNK_BYTES; at least one)."""
    return max(1, (chunk_bytes or CHUNK_BYTES) // (4 * vocab))


def _parts(model) -> tuple[torch.nn.Module | None, torch.nn.Module | None]:
    """The decoder body and the output head of a causal LM (or of a peft model's base);
    None for what a model does not expose."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not hasattr(base, "get_decoder") or not hasattr(base, "get_output_embeddings"):
        return None, None
    return base.get_decoder(), base.get_output_embeddings()


def _hidden(decoder: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    return decoder(input_ids=input_ids, use_cache=False).last_hidden_state


def _chunk_losses(head, hidden, targets, teacher_head, teacher_hidden,
                  temperature: float) -> torch.Tensor:
    """[sum of cross-entropies over the non-ignored targets, sum of KL terms] of one chunk."""
    logits = head(hidden).float()
    ce = F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum")
    if teacher_head is None:
        return ce[None]
    with torch.no_grad():
        teacher_logits = teacher_head(teacher_hidden).float()
    return torch.stack([ce, kl_sum(logits, teacher_logits, temperature)])


def token_losses(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, *,
                 teacher_head: torch.nn.Module | None = None,
                 teacher_hidden: torch.Tensor | None = None, temperature: float = 1.0,
                 chunk_bytes: int | None = None) -> torch.Tensor:
    """Summed losses over rows of hidden states, `chunk_bytes` of logits at a time.

    Args:
        head: the output projection (hidden -> vocabulary logits).
        hidden: (tokens, hidden) final hidden states.
        targets: (tokens,) next-token ids, IGNORE where a row has none.
        teacher_head, teacher_hidden: the teacher's head and hidden states of the same
            tokens, for the distillation term (no gradient flows into them).
        temperature: softmax temperature of the KL term.
        chunk_bytes: fp32 logits computed at once (default CHUNK_BYTES).

    Returns:
        [sum of next-token cross-entropies] or, with a teacher, [that, sum of
        KL(teacher_T || student_T) over all rows]; divide by the counts to average.
    """
    rows = chunk_rows(head.weight.shape[0], chunk_bytes)
    grad = torch.is_grad_enabled() and hidden.requires_grad
    total = None
    for start in range(0, hidden.shape[0], rows):
        part = slice(start, start + rows)
        args = (head, hidden[part], targets[part], teacher_head,
                None if teacher_hidden is None else teacher_hidden[part], temperature)
        # Checkpointed: the chunk's logits are freed now and recomputed in the backward pass.
        losses = (checkpoint(_chunk_losses, *args, use_reentrant=False) if grad
                  else _chunk_losses(*args))
        total = losses if total is None else total + losses
    return total


def causal_lm_loss(model, input_ids: torch.Tensor, *, teacher=None, temperature: float = 1.0,
                   chunk_bytes: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The mean next-token loss `labels=input_ids` gives in transformers, and with a teacher
    T^2 * KL(teacher_T || student_T) averaged over every position (`kd_loss`).

    The teacher runs without gradients; both heads are applied a chunk of tokens at a time
    when the logits of the whole batch would exceed `chunk_bytes`.
    """
    decoder, head = _parts(model)
    vocab = head.weight.shape[0]
    if input_ids.numel() <= chunk_rows(vocab, chunk_bytes):  # exactly the model's own loss
        out = model(input_ids=input_ids, labels=input_ids)
        if teacher is None:
            return out.loss, None
        with torch.inference_mode():
            teacher_logits = teacher(input_ids=input_ids).logits
        return out.loss, kd_loss(out.logits, teacher_logits.clone(), temperature)
    hidden = _hidden(decoder, input_ids)
    hidden = hidden.reshape(-1, hidden.shape[-1])
    # As transformers' ForCausalLMLoss: position t predicts t+1, each row's last predicts none.
    targets = F.pad(input_ids, (0, 1), value=IGNORE)[..., 1:].reshape(-1)
    teacher_head = teacher_hidden = None
    if teacher is not None:
        teacher_decoder, teacher_head = _parts(teacher)
        with torch.no_grad():
            teacher_hidden = _hidden(teacher_decoder, input_ids)
        teacher_hidden = teacher_hidden.reshape(-1, teacher_hidden.shape[-1])
    sums = token_losses(head, hidden, targets, teacher_head=teacher_head,
                        teacher_hidden=teacher_hidden, temperature=temperature,
                        chunk_bytes=chunk_bytes)
    lm = sums[0] / (targets != IGNORE).sum()
    if teacher is None:
        return lm, None
    return lm, sums[1] / hidden.shape[0] * temperature**2


def next_token_nll(model, input_ids: torch.Tensor, *,
                   chunk_bytes: int | None = None) -> torch.Tensor:
    """Sum of next-token negative log-likelihoods of every row of `input_ids` (all but each
    row's first token scored), without gradients."""
    decoder, head = _parts(model)
    vocab = head.weight.shape[0] if head is not None else None
    with torch.no_grad():
        if vocab is None or input_ids.numel() <= chunk_rows(vocab, chunk_bytes):
            logits = model(input_ids=input_ids).logits[:, :-1].float()
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                   input_ids[:, 1:].reshape(-1), reduction="sum")
        hidden = _hidden(decoder, input_ids)[:, :-1]
        return token_losses(head, hidden.reshape(-1, hidden.shape[-1]),
                            input_ids[:, 1:].reshape(-1), chunk_bytes=chunk_bytes)[0]
