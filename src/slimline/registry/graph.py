"""The lineage graph as an image: one box per version, data and digests on the arrows."""

from __future__ import annotations

from pathlib import Path

from slimline.lineage.tags import CALIBRATION_TOKENS
from slimline.registry.versions import VersionInfo


def _headline(info: VersionInfo, base: VersionInfo) -> list[str]:
    lines = []
    for name in sorted(info.metrics):
        if name.startswith(("speed.", "size.num")):
            continue
        value, ref = info.metrics[name], base.metrics.get(name)
        delta = f" ({value / ref - 1:+.1%})" if ref and info is not base else ""
        short = name.split(".", 1)[-1] if not name.startswith("size.") else "size_bytes"
        lines.append(f"{short}: {value:.4g}{delta}")
    return lines[:6]


def draw_lineage(chain: list[VersionInfo], path: Path, title: str | None = None) -> Path:
    """Draw `chain` (root first) left to right into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    width = 3.3
    fig, ax = plt.subplots(figsize=(width * len(chain) + 0.6, 3.6))
    ax.set_xlim(0, width * len(chain))
    ax.set_ylim(0, 3.4)
    ax.axis("off")
    base = chain[0]
    for i, info in enumerate(chain):
        x = i * width + 0.15
        box = FancyBboxPatch((x, 0.25), width - 0.7, 2.7, boxstyle="round,pad=0.05",
                             facecolor="#eef4fb" if "production" not in info.aliases
                             else "#e6f5e6", edgecolor="#34628f")
        ax.add_patch(box)
        aliases = " ".join("@" + a for a in sorted(info.aliases))
        ax.text(x + 0.1, 2.72, f"{info.stage}  v{info.version}", fontsize=10, weight="bold",
                va="top")
        ax.text(x + 0.1, 2.38, aliases or " ", fontsize=7, va="top", color="#34628f")
        ax.text(x + 0.1, 2.1, f"sha256 {info.digest[:12]}", fontsize=7, va="top",
                family="monospace")
        calib = info.tags.get(CALIBRATION_TOKENS)
        if calib:
            ax.text(x + 0.1, 1.9, f"calib {calib[:12]}", fontsize=7, va="top",
                    family="monospace")
        for j, line in enumerate(_headline(info, base)):
            ax.text(x + 0.1, 1.6 - j * 0.22, line, fontsize=7, va="top")
        if i:
            ax.annotate("", xy=(x - 0.02, 1.6), xytext=(x - 0.5, 1.6),
                        arrowprops={"arrowstyle": "->", "color": "#34628f"})
    fig.suptitle(title or f"{base.name}: lineage of v{chain[-1].version}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
