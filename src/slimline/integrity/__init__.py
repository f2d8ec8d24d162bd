"""Artifact integrity: every stage checks what it reads; `slimline verify` checks the
workspace, the DVC cache and the registry against each other."""

from slimline.integrity.inputs import DamagedArtifact, check_artifact, check_stage_inputs

__all__ = ["DamagedArtifact", "check_artifact", "check_stage_inputs"]
