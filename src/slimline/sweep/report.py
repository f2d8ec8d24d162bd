"""The frontier on disk: `sweeps/<id>/frontier.md` (all points sorted by size, pass/fail
per gate, Pareto points starred), `frontier.json` and `frontier.png` (size against each gated
metric's retention, the frontier joined and the gate drawn).

Not under `reports/`: that directory is the `report` stage's DVC output, so files added to
it would show as a modified output in `dvc status` and be deleted by the next `dvc repro`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline._atomic import write_text_atomic
from slimline.registry.gates import GateResult
from slimline.sweep.frontier import Outcome, by_size, pareto_front, same_models

REPORT_DIR = Path("sweeps")


@dataclass
class Verdict:
    """What the sweep concluded."""

    sweep_id: str
    model_name: str
    gates: dict[str, float]
    outcomes: list[Outcome]
    winner: Outcome | None
    runner_up: Outcome | None
    closest: tuple[Outcome, GateResult] | None
    failed: list[str]  # points that did not finish

    def summary(self) -> str:
        if self.winner is not None:
            w = self.winner
            return (f"winner: {w.name} ({w.label}) → {self.model_name} v{w.version}, "
                    f"{w.size_bytes:,.0f} bytes, passes every gate")
        if self.closest is not None:
            o, g = self.closest
            return (f"no point passes every gate; closest: {o.name} ({o.label}, v{o.version}) "
                    f"fails {g.metric}: {g.reason}")
        return "no point finished: nothing to choose from"


def _pct(g: GateResult | None) -> str:
    if g is None or g.retention is None:
        return "–"
    return f"{g.retention:.1%} " + ("pass" if g.passed else "FAIL")


def table(verdict: Verdict) -> str:
    metrics = sorted(verdict.gates)
    head = ["point", "overrides", "version", "bytes", "decode tok/s",
            *[f"{m} (≥{verdict.gates[m]:.0%})" for m in metrics], "all gates"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    same = same_models(verdict.outcomes)
    for o in by_size(verdict.outcomes):
        mark = " **winner**" if verdict.winner is o else (
            " runner-up" if verdict.runner_up is o else "")
        if o.name in same:
            mark += f" (same model as `{same[o.name].name}`)"
        cells = [f"`{o.name}`{mark}", o.label, f"v{o.version} ({o.stage})",
                 f"{o.size_bytes:,.0f}",
                 "–" if o.decode_tokens_per_s is None else f"{o.decode_tokens_per_s:,.0f}",
                 *[_pct(o.gate(m)) + (" ★" if o.pareto.get(m) else "") for m in metrics],
                 "pass" if o.passed else "FAIL"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_dict(verdict: Verdict) -> dict[str, Any]:
    def point(o: Outcome) -> dict[str, Any]:
        return {"name": o.name, "overrides": o.label, "version": o.version, "stage": o.stage,
                "size_bytes": o.size_bytes, "decode_tokens_per_s": o.decode_tokens_per_s,
                "passed": o.passed,
                "gates": {g.metric: {"value": g.value, "base": g.base, "retention": g.retention,
                                     "least": g.least, "passed": g.passed,
                                     "pareto": o.pareto.get(g.metric, False)}
                          for g in o.gates}}

    closest = None
    if verdict.closest is not None:
        o, g = verdict.closest
        closest = {"point": o.name, "version": o.version, "gate": g.metric,
                   "retention": g.retention, "least": g.least}
    return {"sweep": verdict.sweep_id, "registered_model": verdict.model_name,
            "gates": verdict.gates, "points": [point(o) for o in by_size(verdict.outcomes)],
            "winner": verdict.winner.name if verdict.winner else None,
            "winner_version": verdict.winner.version if verdict.winner else None,
            "runner_up": verdict.runner_up.name if verdict.runner_up else None,
            "closest_failure": closest, "not_finished": verdict.failed}


def plot(verdict: Verdict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted(verdict.gates) or ["(no gates)"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rated = [o for o in verdict.outcomes if (g := o.gate(metric)) and g.retention is not None]
        same = same_models(rated)
        for o in rated:
            if o.name in same:  # drawn once, with the first point of its model
                continue
            g, won = o.gate(metric), verdict.winner is not None and (
                verdict.winner.version == o.version)
            names = [p.name for p in rated if p is o or same.get(p.name) is o]
            ax.scatter(o.size_bytes / 1e6, g.retention, c="tab:green" if o.passed else "tab:red",
                       marker="*" if won else "o", s=160 if won else 40, zorder=3)
            ax.annotate(" = ".join(n.split("-", 2)[-1] for n in names),
                        (o.size_bytes / 1e6, g.retention),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(rated, metric)
        if front:
            ax.step([o.size_bytes / 1e6 for o in front],
                    [o.gate(metric).retention for o in front], where="post", c="tab:blue",
                    lw=1, label="Pareto frontier")
        if metric in verdict.gates:
            ax.axhline(verdict.gates[metric], ls="--", c="grey", lw=1,
                       label=f"gate ≥ {verdict.gates[metric]:.0%}")
        ax.set_xlabel("checkpoint MB")
        ax.set_ylabel(f"{metric} retention vs base")
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"sweep {verdict.sweep_id}: green passes every gate, ★ the winner", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(verdict: Verdict, root: Path, lines: Sequence[str] = ()) -> list[Path]:
    """Write the frontier files under `root/sweeps/<sweep id>/`; return their paths."""
    out = root / REPORT_DIR / verdict.sweep_id
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# Sweep {verdict.sweep_id}", "", verdict.summary() + ".", "",
          "Gates: retention against each point's own base (as `slimline promote`); "
          "★ marks the Pareto frontier of size against that metric. Points that reached the "
          "same registered version are one model under two names.", "", table(verdict)]
    if verdict.failed:
        md += ["", "Not finished: " + ", ".join(f"`{n}`" for n in verdict.failed)]
    md += [*[""] * bool(lines), *lines]
    write_text_atomic(out / "frontier.md", "\n".join(md) + "\n")
    write_text_atomic(out / "frontier.json", json.dumps(as_dict(verdict), indent=2) + "\n")
    return [out / "frontier.md", out / "frontier.json", plot(verdict, out / "frontier.png")]
