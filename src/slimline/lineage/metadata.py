"""`slimline.json` and the model card: what an artifact is, where it came from, what made it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from slimline._digest import directory_digest
from slimline.errors import SlimlineError

METADATA_FILE = "slimline.json"
CARD_FILE = "README.md"
SCHEMA_VERSION = 1
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
    mlflow_run_id: str | None = None
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime()))
    schema_version: int = SCHEMA_VERSION

    @property
    def skipped(self) -> bool:
        """True for a pass-through of a stage configured `method: none`."""
        return any(isinstance(v, dict) and v.get("method") == "none"
                   for v in self.params.values())

    def write(self, directory: Path) -> Path:
        path = Path(directory) / METADATA_FILE
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
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
    ]
    lines += [f"- input `{k}`: `{v}`" for k, v in sorted(meta.inputs.items())]
    if meta.mlflow_run_id:
        lines.append(f"- MLflow run: `{meta.mlflow_run_id}`")
    if meta.metrics:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.6g} |" for k, v in sorted(meta.metrics.items())]
    lines += ["", "Load it with `transformers.AutoModelForCausalLM.from_pretrained(<this dir>)`.",
              ""]
    path = Path(directory) / CARD_FILE
    path.write_text("\n".join(lines))
    return path


def seal_artifact(directory: Path, *, stage: str, parent_digest: str | None,
                  params: dict[str, Any], metrics: dict[str, float], inputs: dict[str, str],
                  run_id: str | None, title: str, story: str,
                  known: dict[str, str] | None = None) -> ArtifactMetadata:
    """Digest a finished artifact's content files, then write its slimline.json and card.

    `known` passes file digests already computed while writing (see `directory_digest`).
    """
    meta = ArtifactMetadata(stage=stage, digest=directory_digest(directory, known=known),
                            parent_digest=parent_digest, params=params, metrics=metrics,
                            inputs=inputs, mlflow_run_id=run_id)
    meta.write(directory)
    write_model_card(directory, meta, title, story)
    return meta
