"""Judge a sweep's points: pass/fail per gate, the Pareto frontier of size against each gated
metric, the winner (the smallest model passing every gate) and, when none passes, the gate
that failed closest. Pure functions over `Outcome`s; `report` writes and draws them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from slimline.registry.gates import GateResult


@dataclass
class Outcome:
    """One finished point: its final registered version, size and gate results (retention
    against the base of its own lineage, as `slimline promote` computes them)."""

    name: str
    label: str  # the point's overrides
    version: str
    stage: str
    size_bytes: float
    gates: list[GateResult]
    decode_tokens_per_s: float | None = None
    pareto: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def margin(self) -> float:
        """The smallest `retention - least` over the gates (negative when one fails)."""
        return min((_margin(g) for g in self.gates), default=math.inf)

    def gate(self, metric: str) -> GateResult | None:
        return next((g for g in self.gates if g.metric == metric), None)


def _margin(gate: GateResult) -> float:
    return -math.inf if gate.retention is None else gate.retention - gate.least


def by_size(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Smallest first; equal sizes keep the one with the larger margin first."""
    return sorted(outcomes, key=lambda o: (o.size_bytes, -o.margin, o.name))


def pareto_front(outcomes: Sequence[Outcome], metric: str) -> list[Outcome]:
    """The points no other point beats on both size (smaller) and `metric`'s retention
    (larger); points without a retention for `metric` are never on the front."""
    rated = [o for o in outcomes if (g := o.gate(metric)) and g.retention is not None]
    front, best = [], -math.inf
    for o in sorted(rated, key=lambda o: (o.size_bytes, -o.gate(metric).retention)):
        kept = o.gate(metric).retention
        if kept > best:
            front.append(o)
            best = kept
    return front


def mark_pareto(outcomes: Sequence[Outcome], metrics: Sequence[str]) -> None:
    """Star the points on each metric's front, and every point that reached the same
    registered version as one of them (the same model)."""
    for metric in metrics:
        versions = {o.version for o in pareto_front(outcomes, metric)}
        for o in outcomes:
            o.pareto[metric] = o.version in versions


def winner(outcomes: Sequence[Outcome]) -> tuple[Outcome | None, Outcome | None]:
    """The smallest point passing every gate and the next smallest passing model.

    Two points can reach one registered version — the same weights, by other overrides
    (`prune.round_to` rounds nearby channel ratios to one width) — so the runner-up is the
    smallest passing point of another version, not a second name for the winner's model.
    """
    passing = [o for o in by_size(outcomes) if o.passed]
    if not passing:
        return None, None
    best = passing[0]
    return best, next((o for o in passing[1:] if o.version != best.version), None)


def same_models(outcomes: Sequence[Outcome]) -> dict[str, Outcome]:
    """Point name → the smallest-first point that reached its registered version before it
    (for points that are another name for an earlier point's model)."""
    first: dict[str, Outcome] = {}
    same: dict[str, Outcome] = {}
    for o in by_size(outcomes):
        if o.version in first:
            same[o.name] = first[o.version]
        else:
            first[o.version] = o
    return same


def closest_failure(outcomes: Sequence[Outcome]) -> tuple[Outcome, GateResult] | None:
    """When nothing passes: the point whose worst gate falls short by the least, and that
    gate (ties go to the smaller point)."""
    best: tuple[float, float, Outcome, GateResult] | None = None
    for o in by_size(outcomes):
        failing = [g for g in o.gates if not g.passed]
        if not failing:
            continue
        worst = min(failing, key=_margin)
        key = (-_margin(worst), o.size_bytes)
        if best is None or key < best[:2]:
            best = (*key, o, worst)
    return None if best is None else (best[2], best[3])
