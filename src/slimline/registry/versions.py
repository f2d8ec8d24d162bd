"""What a registered version records about itself, read back from its tags.

Every version carries its lineage in tags (stage, digests, parent version, inputs, git
commit, params, library versions) and its evaluation results as `eval.<task>.<metric>`
tags (with lm-eval's standard error of each as `eval_stderr.<task>.<metric>`), so gates,
lineage and bisect need nothing but the registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slimline.lineage.tags import (
    ARTIFACT_DIGEST,
    BASE_DIGEST,
    BASE_NAME,
    DIRECTIONS,
    EVAL_STDERR,
    INPUTS,
    PARAMS,
    PARENT_DIGEST,
    PARENT_VERSION,
    STAGE,
    VERSIONS,
)
from slimline.lineage.tags import EVAL_METRIC as EVAL


@dataclass
class VersionInfo:
    """One registered version, decoded."""

    name: str
    version: str
    stage: str
    digest: str
    parent_digest: str | None
    parent_version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    # lm-eval's standard error per metric; none for speed, size and perplexities.
    stderrs: dict[str, float] = field(default_factory=dict)
    directions: dict[str, bool | None] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    source: str | None = None

    @property
    def ref(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        return f"{self.stage} v{self.version}"

    @property
    def base_digest(self) -> str | None:
        """Content digest of the base this version's lineage starts from (a base version is
        its own base); None for versions registered before bases were recorded."""
        return self.tags.get(BASE_DIGEST) or (self.digest if self.stage == "base"
                                                      else None)

    @property
    def base_name(self) -> str:
        """The base model's name (`model.name`), as recorded or read from a base's params."""
        model = self.params.get("model") if self.stage == "base" else None
        return self.tags.get(BASE_NAME) or (
            str(model.get("name")) if isinstance(model, dict) and model.get("name") else "?")

    def describe_base(self) -> str:
        """`base v1 (tiny-llama, sha256 abcd1234ef56…)` for a base version."""
        return f"{self.label} ({self.base_name}, sha256 {(self.base_digest or '?')[:12]}…)"

    @classmethod
    def from_version(cls, mv: Any) -> VersionInfo:
        tags = dict(mv.tags or {})

        def decode(name: str, default: Any) -> Any:
            raw = tags.get(name)
            return json.loads(raw) if raw else default

        metrics = {k[len(EVAL):]: float(v) for k, v in tags.items() if k.startswith(EVAL)}
        stderrs = {k[len(EVAL_STDERR):]: float(v) for k, v in tags.items()
                   if k.startswith(EVAL_STDERR)}
        return cls(
            name=mv.name, version=str(mv.version), stage=tags.get(STAGE, "?"),
            digest=tags.get(ARTIFACT_DIGEST, ""),
            parent_digest=tags.get(PARENT_DIGEST) or None,
            parent_version=tags.get(PARENT_VERSION) or None,
            metrics=metrics, stderrs=stderrs, directions=decode(DIRECTIONS, {}),
            params=decode(PARAMS, {}), inputs=decode(INPUTS, {}),
            versions=decode(VERSIONS, {}), tags=tags,
            aliases=list(getattr(mv, "aliases", None) or []), source=mv.source)
