"""Importance estimators as registry entries over pure tensor functions.

The weight estimators are LLM-Pruner's (Ma et al., NeurIPS 2023): each turns a weight (with
its accumulated gradient and squared gradient when it needs them) into per-element
contributions, which `group_sum` adds up over a structure group and `finish` turns into a
score. `taylor_vector` sums the signed first-order terms of a group and takes the absolute
value at the end (LLM-Pruner's "vector-wise"); the element-wise estimators take it per
element. `activation` is Minitron's (Muralidharan et al., 2024): the mean magnitude of what
a group puts out, read by a forward pass alone (see `activations`). `random` is the control.

An estimator declares what it needs (`Needs`) and `scores.compute_scores` gathers exactly
that; adding one is a `register(Estimator(...))` call, plus its name in the config's Literal
(`slimline.config.prune`, kept equal to this registry by a test).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch


class Needs(enum.Flag):
    """What the scoring pass must gather for an estimator.

    Why the gradient needs differ: a score linear in the gradient of every batch
    (`taylor_vector`) folds each (micro-)batch into per-group sums at once (GRADIENTS); an
    element-wise absolute value needs the gradient summed over all batches per weight element
    first, |w.(g1+g2)| != |w.g1| + |w.g2| (SUMMED_GRADIENT); the diagonal Fisher squares each
    whole batch's gradient, so its batches cannot be split (SQUARED_BATCH_GRADIENT).
    """

    NOTHING = 0
    GRADIENTS = enum.auto()
    SUMMED_GRADIENT = enum.auto()
    SQUARED_BATCH_GRADIENT = enum.auto()
    ACTIVATIONS = enum.auto()


_BACKWARD = Needs.GRADIENTS | Needs.SUMMED_GRADIENT | Needs.SQUARED_BATCH_GRADIENT


def _same(summed: torch.Tensor) -> torch.Tensor:
    return summed


@dataclass(frozen=True)
class Estimator:
    """One importance estimator.

    Attributes:
        name: what `prune.estimator` says.
        needs: what the scoring pass gathers for it.
        contribution: for weight estimators `(w, grad, fisher) -> per-element importance`
            (w in float32, grad/fisher None when not needed); for activation estimators
            `(x) -> per-token group importance` with x shaped (tokens, groups, block).
        finish: summed (or, for activations, token-averaged) contributions -> score.
        draw: `(n, generator) -> n scores` for an estimator that ignores the model (the
            control); it replaces `contribution`.
    """

    name: str
    needs: Needs
    contribution: Callable[..., torch.Tensor] | None = None
    finish: Callable[[torch.Tensor], torch.Tensor] = _same
    draw: Callable[[int, torch.Generator], torch.Tensor] | None = None

    @property
    def needs_gradients(self) -> bool:
        return bool(self.needs & _BACKWARD)

    @property
    def needs_calibration(self) -> bool:
        """Whether it reads calibration batches (a backward or a forward pass)."""
        return bool(self.needs & (_BACKWARD | Needs.ACTIVATIONS))


ESTIMATORS: dict[str, Estimator] = {}


def register(estimator: Estimator) -> Estimator:
    """Add `estimator` to the registry (its name must be new)."""
    if estimator.name in ESTIMATORS:
        raise ValueError(f"estimator {estimator.name!r} is already registered")
    if (estimator.contribution is None) == (estimator.draw is None):
        raise ValueError(f"estimator {estimator.name!r} needs exactly one of contribution, draw")
    ESTIMATORS[estimator.name] = estimator
    return estimator


def get(name: str) -> Estimator:
    """The registered estimator called `name`."""
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}: use one of "
                         f"{', '.join(ESTIMATORS)}") from None


def random_scores(n: int, generator: torch.Generator) -> torch.Tensor:
    """The control: scores that know nothing about the model."""
    return torch.rand(n, generator=generator)


def head_norms(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each group's slice of each token's activation (|x| for one-wide groups)."""
    return torch.linalg.vector_norm(x.float(), dim=-1)


register(Estimator("taylor_first", Needs.SUMMED_GRADIENT,
                   lambda w, g, f: (w * g).abs()))
register(Estimator("taylor_vector", Needs.GRADIENTS, lambda w, g, f: w * g,
                   finish=torch.abs))
# |dL| ~ |g w - 1/2 w H w| with H approximated by the diagonal Fisher (mean g^2).
register(Estimator("taylor_second", Needs.SUMMED_GRADIENT | Needs.SQUARED_BATCH_GRADIENT,
                   lambda w, g, f: (w * g - 0.5 * w.pow(2) * f).abs()))
register(Estimator("magnitude", Needs.NOTHING, lambda w, g, f: w.pow(2), finish=torch.sqrt))
register(Estimator("random", Needs.NOTHING, draw=random_scores))
register(Estimator("activation", Needs.ACTIVATIONS, head_norms))

NEEDS_GRADIENTS = frozenset(n for n, e in ESTIMATORS.items() if e.needs_gradients)
NEEDS_CALIBRATION = frozenset(n for n, e in ESTIMATORS.items() if e.needs_calibration)


def contributions(estimator: str, w: torch.Tensor, grad: torch.Tensor | None = None,
                  fisher: torch.Tensor | None = None) -> torch.Tensor:
    """Per-element importance of `w` under a weight estimator (signed for `taylor_vector`)."""
    est = get(estimator)
    if est.contribution is None or est.needs & Needs.ACTIVATIONS:
        raise ValueError(f"estimator {estimator!r} does not score weights")
    return est.contribution(w.float(), grad, fisher)


def finish(estimator: str, summed: torch.Tensor) -> torch.Tensor:
    """Turn summed contributions into a score (abs for vector-wise, sqrt for L2 magnitude)."""
    return get(estimator).finish(summed)


def group_sum(c: torch.Tensor, n: int, block: int, axis: str) -> torch.Tensor:
    """Sum per-element contributions of one weight into `n` groups of `block` rows or columns."""
    if axis == "cols":
        c = c.t()
    return c.reshape(n, block, -1).sum(dim=(1, 2))


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the `k` highest scores, sorted ascending so the layout order is kept."""
    return torch.topk(scores, k, largest=True, sorted=False).indices.sort().values
