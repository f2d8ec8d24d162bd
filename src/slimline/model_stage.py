"""One shape for building every model stage's artifact: parent -> transform or pass-through
-> measure -> seal, into a directory that appears only when everything succeeded.

A stage's build file keeps only its own transform (`prune._prune`, `recover._recover`,
`quantize._quantize`, the base's training or import); this module opens the directory,
passes a skipped stage's parent through, counts parameters, writes `slimline.json` and the
model card, and returns one `StageResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimline._atomic import atomic_directory
from slimline.checkpoint import parameter_stats, pass_through
from slimline.lineage.metadata import ArtifactMetadata, Provenance, seal_artifact
from slimline.stages import ModelStage


@dataclass
class Made:
    """What a transform made besides the files it wrote into the new directory.

    Attributes:
        metrics: its measurements (parameter counts and bytes are added for it).
        inputs: digests of what it read, added to the provenance's inputs.
        extra: results particular to the stage (kept indices, a loss curve).
        known: file digests computed while writing, so they are not read again.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    known: dict[str, str] | None = None


@dataclass
class StageResult:
    """A built model stage: where it is, its digest and its parent's, what it measured and
    read (as recorded in its `slimline.json`), whether it was skipped, and `extra`."""

    path: Path
    digest: str
    parent_digest: str | None
    metrics: dict[str, float]
    inputs: dict[str, str]
    skipped: bool
    extra: dict[str, Any] = field(default_factory=dict)


def build_model_stage(stage: ModelStage, parent: Path | None, out_dir: Path, *,
                      transform: Callable[[Path], Made] | None,
                      story: Callable[[str | None, dict[str, float]], str],
                      record: Provenance | None = None,
                      measure: Callable[[dict[str, float]], dict[str, float]] | None = None,
                      title: str | None = None) -> StageResult:
    """Write `stage`'s artifact to `out_dir` atomically.

    Args:
        stage: the chain's stage (its name is the artifact's `stage`).
        parent: the parent checkpoint (None for the base).
        out_dir: the artifact directory.
        transform: writes the new checkpoint into the directory it is given; None passes
            the parent through unchanged (the stage is configured `method: none`).
        story: the model card's text from the parent's digest and the final metrics (a
            skipped stage's is `stage.skipped_story()`).
        record: the params, inputs and run to record (default: none).
        measure: turns the metrics (the transform's plus parameter count and bytes) into
            the recorded ones, for a skipped stage too.
        title: the model card's title (default: `stage.title`).
    """
    record = record or Provenance()
    parent_digest = ArtifactMetadata.read(parent).digest if parent is not None else None
    with atomic_directory(out_dir) as tmp:
        if transform is None:
            pass_through(parent, tmp)
            made = Made()
        else:
            made = transform(tmp)
        metrics = {**made.metrics, **parameter_stats(tmp)}
        if measure is not None:
            metrics = measure(metrics)
        inputs = {**record.inputs, **made.inputs}
        text = stage.skipped_story() if transform is None else story(parent_digest, metrics)
        meta = seal_artifact(tmp, stage=stage.name, parent_digest=parent_digest,
                             params=record.params, metrics=metrics, inputs=inputs,
                             run_id=record.run_id, title=title or stage.title, story=text,
                             known=made.known)
    return StageResult(out_dir, meta.digest, parent_digest, metrics, inputs,
                       transform is None, made.extra)
