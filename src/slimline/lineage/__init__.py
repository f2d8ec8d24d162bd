"""Lineage: `slimline.json` next to every artifact and one MLflow run per stage execution."""

from slimline.lineage.metadata import ArtifactMetadata, library_versions
from slimline.lineage.tracking import StageRun, stage_run, tracking_uri

__all__ = ["ArtifactMetadata", "StageRun", "library_versions", "stage_run", "tracking_uri"]
