"""The report's figures: size against quality, and each metric per stage against the base."""

from __future__ import annotations

import math

from slimline.report.table import Report


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def size_vs_quality(report: Report):
    """One panel per quality metric: model size (x) against the metric (y), stage by stage."""
    plt = _pyplot()
    metrics = report.quality_metrics()
    size_key = "size.size_bytes"
    cols = min(3, max(1, len(metrics)))
    rows = max(1, math.ceil(len(metrics) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        points = [(s.stage, s.metrics[size_key] / 1e6, s.metrics[metric])
                  for s in report.stages if size_key in s.metrics and metric in s.metrics]
        ax.plot([p[1] for p in points], [p[2] for p in points], "-", color="0.8", zorder=1)
        for stage, x, y in points:
            ax.scatter([x], [y], zorder=2)
            ax.annotate(stage, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        arrow = "higher is better" if report.higher_is_better.get(metric) else "lower is better"
        ax.set_title(f"{metric}\n({arrow})", fontsize=9)
        ax.set_xlabel("checkpoint size (MB)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle("size against quality, per stage", fontsize=10)
    fig.tight_layout()
    return fig


def stage_bars(report: Report):
    """Every metric of every stage as a ratio to the base (base = 1)."""
    plt = _pyplot()
    names = [m for m in report.metric_names()
             if report.base.metrics.get(m) and report.higher_is_better.get(m) is not None]
    width = 0.8 / max(1, len(report.stages))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4.2))
    for i, stage in enumerate(report.stages):
        ratios = [stage.metrics.get(m, math.nan) / report.base.metrics[m] for m in names]
        ax.bar([j + i * width for j in range(len(names))], ratios, width, label=stage.stage)
    ax.axhline(1.0, color="0.3", linewidth=0.8)
    labels = [f"{m} {'↑' if report.higher_is_better[m] else '↓'}" for m in names]
    ax.set_xticks([j + width * (len(report.stages) - 1) / 2 for j in range(len(names))])
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel(f"ratio to {report.base.stage}")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("each metric per stage, relative to the base (↑ higher / ↓ lower is better)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def hardware_fit(report: Report):
    """Weights + KV cache of each stage at each context (largest batch size of the table),
    on a log scale, against each GPU's usable memory (utilization × size)."""
    from slimline.report.fit import GIB

    plt = _pyplot()
    section = next((s for s in report.sections if s.key == "hardware_fit"), None)
    rows = section.rows if section else []
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.38 * max(1, len(rows))))
    if not rows:
        ax.text(0.5, 0.5, "no checkpoint config.json under artifacts/", ha="center")
        ax.axis("off")
        return fig
    batch = max(rows[0].totals)
    labels = [f"{r.model} @ {r.context:,}" for r in rows]
    weights = [r.weights / GIB for r in rows]
    cache = [batch * r.kv_per_sequence / GIB for r in rows]
    ax.barh(labels, weights, color="0.35", label="weights")
    ax.barh(labels, cache, left=weights, color="tab:blue", alpha=0.6,
            label=f"KV cache, batch {batch}")
    for gib in section.cfg.gpus_gib:
        usable = section.cfg.utilization * gib - section.cfg.reserve_gib
        ax.axvline(usable, color="tab:red", linestyle="--", linewidth=0.8)
        ax.annotate(f"{gib:g} GiB GPU", (usable, 0.97), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", ha="right", fontsize=7, color="tab:red")
    ax.set_xscale("log")
    ax.set_xlim(left=min(weights) / 4)  # log-scale bars start at the left edge: show them all
    ax.invert_yaxis()
    ax.set_xlabel(f"GiB (dashed: {section.cfg.utilization:g} × GPU memory)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("hardware fit: weights + KV cache per stage and context", fontsize=9)
    fig.tight_layout()
    return fig


def save(fig, path) -> None:
    """Write a figure and release it (pyplot keeps every open figure alive)."""
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
