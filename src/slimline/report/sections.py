"""The report's sections after the metric table: speed from one side-by-side measurement
only, and which stage's model fits on which GPU."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from slimline.config import FitConfig
from slimline.errors import SlimlineError
from slimline.paths import artifact_dir
from slimline.report.fit import FitRow, fit_markdown, fit_rows
from slimline.report.table import Report
from slimline.speed import SPEED_FILE  # written by the `speed` stage

_SPEED_KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s")


@dataclass
class SpeedSection:
    """Every stage's speed from one measurement (`metrics/speed.json`), or why there is none.

    Ratios are only ever taken between stages of the same document, which one process wrote
    in one round-robin run; a stage whose weights changed since is left out, not compared.
    """

    measurement: dict | None
    stages: dict[str, dict]
    stale: list[str]
    key = "speed"

    @classmethod
    def load(cls, root: Path, report: Report) -> SpeedSection:
        path = Path(root) / SPEED_FILE
        if not path.exists():
            return cls(None, {}, [])
        doc = json.loads(path.read_text())
        if not isinstance(doc.get("measurement"), dict) or not isinstance(doc.get("stages"), dict):
            raise SlimlineError(f"{path} is not a side-by-side measurement (no `measurement` "
                                "and `stages`): re-run it with `dvc repro speed`.")
        digests = {s.stage: s.digest for s in report.stages}
        stale = [stage for stage, row in doc["stages"].items()
                 if stage in digests and digests[stage] and row.get("digest") != digests[stage]]
        kept = {stage: row for stage, row in doc["stages"].items()
                if stage in digests and stage not in stale}
        base = doc["measurement"].get("base")
        if base not in kept:  # without the base in this measurement there is no ratio
            return cls(doc["measurement"], {}, stale or [base])
        return cls(doc["measurement"], kept, stale)

    def to_json(self) -> dict:
        return {"measurement": self.measurement, "stages": self.stages, "stale": self.stale}

    def markdown(self) -> str:
        head = "## Speed, one side-by-side measurement\n\n"
        if self.measurement is None:
            return (head + f"No side-by-side measurement ({SPEED_FILE}): run `dvc repro speed`. "
                    "Speeds timed by separate evaluations are not compared across stages.\n")
        m = self.measurement
        lines = [head + f"Measured on {m.get('device')} with {m.get('runtime')}, "
                 f"{m.get('started')} to {m.get('finished')}: every stage timed in one process, "
                 f"in turns with {m.get('base')} ({m.get('rounds')} rounds of {m.get('repeats')} "
                 f"runs each; {m.get('prompt_tokens')}-token prompt, {m.get('new_tokens')} new "
                 f"tokens, batch {m.get('batch_size')}). Each ratio is the median of its rounds' "
                 f"ratios to {m.get('base')} timed beside them.\n"]
        if self.stages:
            lines += ["| stage | prefill tokens/s | × base | decode tokens/s | × base |",
                      "|---|---|---|---|---|"]
            for stage, row in self.stages.items():
                lines.append(f"| {stage} | {row['prefill_tokens_per_s']:,.0f} | "
                             f"{row['prefill_vs_base']:.2f} | {row['decode_tokens_per_s']:,.1f}"
                             f" | {row['decode_vs_base']:.2f} |")
        if self.stale:
            lines.append(f"\nNot shown: {', '.join(self.stale)} changed since this measurement "
                         "(other weights); run `dvc repro speed`.")
        return "\n".join(lines) + "\n"


def _weight_bytes(root: Path, stage) -> int:
    """The checkpoint's real bytes: its safetensors files (as measured by its evaluation)."""
    if "size.size_bytes" in stage.metrics:
        return int(stage.metrics["size.size_bytes"])
    return sum(p.stat().st_size for p in artifact_dir(stage.stage, root).glob("*.safetensors"))


@dataclass
class FitSection:
    """Each stage's checkpoint (its own config.json and safetensors bytes) against GPUs."""

    rows: list[FitRow]
    missing: list[str]
    cfg: FitConfig
    key = "hardware_fit"

    @classmethod
    def load(cls, root: Path, report: Report, cfg: FitConfig) -> FitSection:
        rows, missing = [], []
        for stage in report.stages:
            config = artifact_dir(stage.stage, root) / "config.json"
            if not config.exists():
                missing.append(stage.stage)
                continue
            rows += fit_rows(stage.stage, json.loads(config.read_text()),
                             _weight_bytes(root, stage), contexts=cfg.contexts,
                             batch_sizes=cfg.batch_sizes, gpus_gib=cfg.gpus_gib,
                             utilization=cfg.utilization, reserve_gib=cfg.reserve_gib,
                             cache_dtype=cfg.cache_dtype)
        return cls(rows, missing, cfg)

    def to_json(self) -> dict:
        return {"settings": self.cfg.model_dump(), "rows": [asdict(r) for r in self.rows],
                "missing": self.missing}

    def markdown(self) -> str:
        cache = ("in the checkpoint's dtype" if self.cfg.cache_dtype == "auto"
                 else f"in {self.cfg.cache_dtype}")
        text = (f"## Hardware fit\n\nWeights (the checkpoint's safetensors bytes) plus KV cache "
                f"({cache}) per stage and context.\n\n")
        text += fit_markdown(self.rows, utilization=self.cfg.utilization,
                             reserve_gib=self.cfg.reserve_gib)
        if self.missing:
            text += (f"\nNo config.json for {', '.join(self.missing)} under artifacts/: run "
                     "their stages (or `dvc pull`) to see their fit.\n")
        return text
