"""Recovery losses as pure tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_sum(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
           temperature: float) -> torch.Tensor:
    """Sum over tokens of KL(softmax(teacher/T) || softmax(student/T)) (no T^2 factor), so
    chunks of tokens can be added up."""
    vocab = student_logits.shape[-1]
    s = F.log_softmax(student_logits.float().reshape(-1, vocab) / temperature, dim=-1)
    t = F.log_softmax(teacher_logits.float().reshape(-1, vocab) / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="sum")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), averaged over tokens.

    The T^2 factor keeps gradient magnitudes comparable across temperatures (Hinton et al.).
    """
    tokens = student_logits.numel() // student_logits.shape[-1]
    # kl_div's "batchmean" is this sum divided by the rows.
    return kl_sum(student_logits, teacher_logits, temperature) / tokens * temperature**2
