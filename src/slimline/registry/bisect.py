"""Find the stage that broke a model: walk two lineages stage by stage and name the first
whose evaluation diverges, with what differed at its input."""

from __future__ import annotations

from dataclasses import dataclass, field

from slimline.lineage.metadata import TOKENS_INPUT
from slimline.lineage.tags import GIT_COMMIT
from slimline.lineage.tracking import flatten_params
from slimline.registry.refs import lineage_chain
from slimline.registry.versions import VersionInfo
from slimline.stages import MODEL_STAGES


@dataclass
class StageComparison:
    stage: str
    good: VersionInfo
    bad: VersionInfo
    changes: dict[str, tuple[float | None, float | None, float | None]]  # metric: g, b, rel
    diverged: list[str]
    inputs: list[str] = field(default_factory=list)


@dataclass
class BisectResult:
    stages: list[StageComparison]
    culprit: StageComparison | None
    metrics: list[str]
    good_base: VersionInfo | None = None
    bad_base: VersionInfo | None = None

    @property
    def bases_differ(self) -> bool:
        return bool(self.good_base and self.bad_base
                    and self.good_base.digest != self.bad_base.digest)


def base_difference(good: VersionInfo, bad: VersionInfo) -> str:
    """The line that says two lineages start from different bases."""
    return (f"base digest differs: {good.digest[:12]} ({good.base_name}) → "
            f"{bad.digest[:12]} ({bad.base_name})")


def _filled(version: VersionInfo) -> dict[str, VersionInfo]:
    """Stage -> version along the lineage; a skipped stage maps to its parent's version
    (a skipped stage passes its input through unchanged)."""
    by_stage = {v.stage: v for v in lineage_chain(version)}
    out: dict[str, VersionInfo] = {}
    last = None
    for stage in MODEL_STAGES:
        last = by_stage.get(stage, last)
        if last is not None:
            out[stage] = last
    return out


def input_differences(good: VersionInfo, bad: VersionInfo) -> list[str]:
    """What a stage saw differently: params, parent, calibration, inputs, libraries, code."""
    out = []
    if good.stage != bad.stage:
        out.append(f"stage: {good.stage} ran in good, {bad.stage} in bad (one of them skipped "
                   "this stage)")
    gp, bp = flatten_params(good.params), flatten_params(bad.params)
    for key in sorted(set(gp) | set(bp)):
        if gp.get(key) != bp.get(key):
            out.append(f"param {key}: {gp.get(key)!r} → {bp.get(key)!r}")
    if good.parent_digest != bad.parent_digest:
        out.append(f"parent digest: {(good.parent_digest or '-')[:12]} (v{good.parent_version})"
                   f" → {(bad.parent_digest or '-')[:12]} (v{bad.parent_version})")
    for key in sorted(set(good.inputs) | set(bad.inputs)):
        g, b = good.inputs.get(key), bad.inputs.get(key)
        if g != b:
            label = "calibration digest" if key == TOKENS_INPUT else f"input {key}"
            out.append(f"{label}: {(g or '-')[:12]} → {(b or '-')[:12]}")
    for key in sorted(set(good.versions) | set(bad.versions)):
        if good.versions.get(key) != bad.versions.get(key):
            out.append(f"library {key}: {good.versions.get(key)} → {bad.versions.get(key)}")
    gc, bc = good.tags.get(GIT_COMMIT), bad.tags.get(GIT_COMMIT)
    if gc != bc:
        out.append(f"git commit: {(gc or '?')[:12]} → {(bc or '?')[:12]}")
    return out


def quality_metrics(*versions: VersionInfo) -> list[str]:
    """Evaluation metrics with a known direction (speed and size are not quality)."""
    names: set[str] = set()
    for v in versions:
        names |= {m for m in v.metrics if not m.startswith(("speed.", "size."))
                  and v.directions.get(m) is not None}
    return sorted(names)


def bisect(good: VersionInfo, bad: VersionInfo, *, metrics: list[str] | None = None,
           tolerance: float = 0.01) -> BisectResult:
    """Compare `good` and `bad` stage by stage; the culprit is the first stage whose metric
    moves by more than `tolerance` (relative) between the two lineages. Lineages from
    different bases (a base upgrade) blame the base stage: every later stage saw another
    input, so no later comparison isolates a cause."""
    g_chain, b_chain = _filled(good), _filled(bad)
    names = metrics or quality_metrics(good, bad)
    stages: list[StageComparison] = []
    culprit = None
    for stage in MODEL_STAGES:
        if stage not in g_chain or stage not in b_chain:
            continue
        g, b = g_chain[stage], b_chain[stage]
        changes, diverged = {}, []
        for name in names:
            gv, bv = g.metrics.get(name), b.metrics.get(name)
            rel = None if gv is None or bv is None or gv == 0 else (bv - gv) / abs(gv)
            changes[name] = (gv, bv, rel)
            # A metric one side lacks (a NaN result is not logged) counts as diverged.
            if (rel is not None and abs(rel) > tolerance) or ((gv is None) != (bv is None)):
                diverged.append(name)
        comparison = StageComparison(stage, g, b, changes, diverged)
        new_base = stage == "base" and g.digest != b.digest
        if (diverged or new_base) and culprit is None:
            comparison.inputs = ([base_difference(g, b)] if new_base else []) + \
                input_differences(g, b)
            culprit = comparison
        stages.append(comparison)
    return BisectResult(stages, culprit, names, g_chain.get("base"), b_chain.get("base"))


def _change(change: tuple[float | None, float | None, float | None]) -> str:
    good, bad, rel = change
    if rel is not None:
        return f"{rel:+.1%}"
    return f"{good} → {bad}"


def render(result: BisectResult, tolerance: float) -> str:
    lines = []
    if result.good_base and result.bad_base:
        lines += [f"good: {result.good_base.describe_base()} ; "
                  f"bad: {result.bad_base.describe_base()}", ""]
    lines.append(f"{'stage':<10} {'good':<16} {'bad':<16} diverging (> {tolerance:.1%})")
    for c in result.stages:
        moved = ", ".join(f"{m} {_change(c.changes[m])}" for m in c.diverged) or "-"
        lines.append(f"{c.stage:<10} {c.good.label:<16} {c.bad.label:<16} {moved}")
    if result.culprit is None:
        lines.append("\nno stage diverges beyond the tolerance.")
        return "\n".join(lines)
    c = result.culprit
    lines += ["", f"culprit: the {c.stage} stage ({c.good.label} → {c.bad.label}).",
              "what differed at its input:"]
    lines += [f"  - {d}" for d in c.inputs] or ["  - nothing recorded: same params, parent, "
                                                 "data and libraries"]
    return "\n".join(lines)
