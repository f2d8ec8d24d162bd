"""`slimline.json` and the model card: what an artifact is, where it came from, what made it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from slimline._digest import combine, file_digests
from slimline.errors import SlimlineError

METADATA_FILE = "slimline.json"
CARD_FILE = "README.md"
SCHEMA_VERSION = 2
# The `inputs` key of the sha256 over the token ids a stage computed on (calibration or the
# importance backward pass); the split files' own sha256 are under the split's name.
TOKENS_INPUT = "calibration_tokens"
# Measurements that differ from run to run (timings, throughput, memory). They go to the
# stage's MLflow run, never into the artifact: identical weights must make a byte-identical
# artifact directory, so DVC sees the same hash and re-runs nothing downstream.
VOLATILE_SUFFIXES = ("_seconds", "_per_s", "_time_s", "_memory_mb")
# Run-specific fields kept readable in older artifacts but no longer written (schema 1).
_RUN_FIELDS = ("mlflow_run_id", "created_at")
_LIBRARIES = ("slimline", "torch", "transformers", "tokenizers", "safetensors", "peft",
              "llmcompressor", "compressed-tensors", "lm-eval", "mlflow", "dvc")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change what a stage produces."""
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class ArtifactMetadata:
    """Contents of an artifact directory's `slimline.json`."""

    stage: str
    digest: str
    parent_digest: str | None
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    files: dict[str, str] = field(default_factory=dict)  # {relative path: sha256}
    mlflow_run_id: str | None = None  # schema 1 only; find the run by digest instead
    created_at: str | None = None  # schema 1 only
    schema_version: int = SCHEMA_VERSION

    @property
    def skipped(self) -> bool:
        """True for a pass-through of a stage configured `method: none`."""
        return any(isinstance(v, dict) and v.get("method") == "none"
                   for v in self.params.values())

    def write(self, directory: Path) -> Path:
        """Write `slimline.json` deterministically: no run id, time or timing, so the same
        weights and inputs give the same bytes (the MLflow run tagged with the digest keeps
        those)."""
        data = {k: v for k, v in asdict(self).items() if k not in _RUN_FIELDS}
        data["metrics"] = stable_metrics(self.metrics)
        path = Path(directory) / METADATA_FILE
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> ArtifactMetadata:
        path = Path(directory) / METADATA_FILE
        if not path.exists():
            raise SlimlineError(
                f"{directory} has no {METADATA_FILE}: it was not written by a slimline stage. "
                "Run `dvc repro` to rebuild it."
            )
        data = json.loads(path.read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def stable_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """`metrics` without the measurements that vary between identical runs."""
    return {k: v for k, v in metrics.items() if not k.endswith(VOLATILE_SUFFIXES)}


def write_model_card(directory: Path, meta: ArtifactMetadata, title: str,
                     lineage: str) -> Path:
    """A short README.md stating the artifact's lineage in words."""
    lines = [
        f"# {title}",
        "",
        lineage,
        "",
        f"- stage: `{meta.stage}`",
        f"- content digest (sha256): `{meta.digest}`",
        f"- parent digest: `{meta.parent_digest or 'none (root of the lineage)'}`",
        f"- MLflow: the `{meta.stage}` run tagged `slimline.artifact_digest` = this digest",
    ]
    lines += [f"- input `{k}`: `{v}`" for k, v in sorted(meta.inputs.items())]
    metrics = stable_metrics(meta.metrics)
    if metrics:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.6g} |" for k, v in sorted(metrics.items())]
    lines += ["", "Load it with `transformers.AutoModelForCausalLM.from_pretrained(<this dir>)`.",
              ""]
    path = Path(directory) / CARD_FILE
    path.write_text("\n".join(lines))
    return path


@dataclass(frozen=True)
class Provenance:
    """What a stage execution records about itself in `slimline.json`: the params it read,
    the digests of the inputs it was given, and its MLflow run (kept on the returned
    metadata only). The default, recording nothing, suits benchmarks and tests."""

    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None


def seal_artifact(directory: Path, *, stage: str, parent_digest: str | None,
                  params: dict[str, Any], metrics: dict[str, float], inputs: dict[str, str],
                  run_id: str | None, title: str, story: str,
                  known: dict[str, str] | None = None) -> ArtifactMetadata:
    """Digest a finished artifact's content files, then write its slimline.json and card.

    `known` passes file digests already computed while writing (see `file_digests`).
    `run_id` stays on the returned object only: the run records the digest, not the reverse.
    """
    files = file_digests(directory, known=known)
    meta = ArtifactMetadata(stage=stage, digest=combine(files.items()),
                            parent_digest=parent_digest, params=params, metrics=metrics,
                            inputs=inputs, files=files, mlflow_run_id=run_id)
    meta.write(directory)
    write_model_card(directory, meta, title, story)
    return meta
