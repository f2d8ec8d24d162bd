"""Find the stage that broke a model: walk two lineages stage by stage and name the first
whose evaluation diverges, with what differed at its input.

A metric moves when its difference is beyond the noise of the two evaluations (more than
`gates.Z` combined standard errors, from lm-eval's stderr recorded on both versions); a
metric without a recorded stderr moves beyond `DEFAULT_TOLERANCE` (relative). An explicit
tolerance replaces both for every metric."""

from __future__ import annotations

from dataclasses import dataclass, field

from slimline.lineage.metadata import TOKENS_INPUT
from slimline.lineage.tags import GIT_COMMIT
from slimline.lineage.tracking import flatten_params
from slimline.registry.gates import Z, combined_stderr
from slimline.registry.refs import lineage_chain
from slimline.registry.versions import VersionInfo
from slimline.stages import MODEL_STAGES

DEFAULT_TOLERANCE = 0.01  # relative move of a metric without a recorded standard error


@dataclass
class StageComparison:
    stage: str
    good: VersionInfo
    bad: VersionInfo
    changes: dict[str, tuple[float | None, float | None, float | None]]  # metric: g, b, rel
    diverged: list[str]
    inputs: list[str] = field(default_factory=list)
    noise: dict[str, float] = field(default_factory=dict)  # metric: combined stderr, if known


@dataclass
class BisectResult:
    stages: list[StageComparison]
    culprit: StageComparison | None
    metrics: list[str]
    good_base: VersionInfo | None = None
    bad_base: VersionInfo | None = None
    tolerance: float | None = None  # explicit relative tolerance; None: noise, else 1%

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


def moved(good: float | None, bad: float | None, noise: float | None,
          tolerance: float | None) -> bool:
    """Whether a metric moved between two evaluations: beyond `Z`σ of `noise` (the combined
    standard error) where known and no explicit `tolerance` is given, else by more than the
    relative tolerance (`DEFAULT_TOLERANCE` by default). A value one side lacks (a NaN result
    is not logged) counts as moved."""
    if good is None or bad is None:
        return (good is None) != (bad is None)
    if tolerance is None and noise is not None:
        return abs(bad - good) > Z * noise
    if good == 0:
        return False
    return abs((bad - good) / abs(good)) > (DEFAULT_TOLERANCE if tolerance is None
                                            else tolerance)


def bisect(good: VersionInfo, bad: VersionInfo, *, metrics: list[str] | None = None,
           tolerance: float | None = None) -> BisectResult:
    """Compare `good` and `bad` stage by stage; the culprit is the first stage where a metric
    moves between the two lineages (`moved`: beyond the evaluations' noise, or by more than
    `tolerance` relative when given or when no stderr is recorded). Lineages from different
    bases (a base upgrade) blame the base stage: every later stage saw another input, so no
    later comparison isolates a cause."""
    g_chain, b_chain = _filled(good), _filled(bad)
    names = metrics or quality_metrics(good, bad)
    stages: list[StageComparison] = []
    culprit = None
    for stage in MODEL_STAGES:
        if stage not in g_chain or stage not in b_chain:
            continue
        g, b = g_chain[stage], b_chain[stage]
        changes, diverged, noises = {}, [], {}
        for name in names:
            gv, bv = g.metrics.get(name), b.metrics.get(name)
            rel = None if gv is None or bv is None or gv == 0 else (bv - gv) / abs(gv)
            changes[name] = (gv, bv, rel)
            noise = combined_stderr(g.stderrs.get(name), b.stderrs.get(name))
            if noise is not None:
                noises[name] = noise
            if moved(gv, bv, noise, tolerance):
                diverged.append(name)
        comparison = StageComparison(stage, g, b, changes, diverged, noise=noises)
        new_base = stage == "base" and g.digest != b.digest
        if (diverged or new_base) and culprit is None:
            comparison.inputs = ([base_difference(g, b)] if new_base else []) + \
                input_differences(g, b)
            culprit = comparison
        stages.append(comparison)
    return BisectResult(stages, culprit, names, g_chain.get("base"), b_chain.get("base"),
                        tolerance)


def _change(change: tuple[float | None, float | None, float | None],
            noise: float | None = None) -> str:
    good, bad, rel = change
    if good is None or bad is None:
        return f"{good} → {bad}"
    text = f"{rel:+.1%}" if rel is not None else f"{good} → {bad}"
    if noise is not None:
        text += f" (Δ {bad - good:+.3g} > {Z:g}σ {Z * noise:.3g})"
    return text


def _criterion(tolerance: float | None) -> str:
    if tolerance is not None:
        return f"> {tolerance:.1%}"
    return f"> {Z:g}σ of lm-eval's stderr where recorded, else > {DEFAULT_TOLERANCE:.1%}"


def render(result: BisectResult, tolerance: float | None = None) -> str:
    """The stage table, the culprit and what differed at its input. `tolerance` overrides
    the result's own in the heading (kept for callers that pass it)."""
    tolerance = result.tolerance if tolerance is None else tolerance
    lines = []
    if result.good_base and result.bad_base:
        lines += [f"good: {result.good_base.describe_base()} ; "
                  f"bad: {result.bad_base.describe_base()}", ""]
    lines.append(f"{'stage':<10} {'good':<16} {'bad':<16} diverging "
                 f"({_criterion(tolerance)})")
    for c in result.stages:
        noise = {} if tolerance is not None else c.noise
        text = ", ".join(f"{m} {_change(c.changes[m], noise.get(m))}" for m in c.diverged)
        lines.append(f"{c.stage:<10} {c.good.label:<16} {c.bad.label:<16} {text or '-'}")
    if result.culprit is None:
        lines.append("\nno stage diverges beyond the tolerance"
                     + (" or the evaluations' noise." if tolerance is None else "."))
        return "\n".join(lines)
    c = result.culprit
    lines += ["", f"culprit: the {c.stage} stage ({c.good.label} → {c.bad.label}).",
              "what differed at its input:"]
    lines += [f"  - {d}" for d in c.inputs] or ["  - nothing recorded: same params, parent, "
                                                 "data and libraries"]
    return "\n".join(lines)
