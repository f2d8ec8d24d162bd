"""The base of every configuration section: frozen, unknown keys rejected."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)



class SkippedStage(_Section):
    """A stage that is not part of this pipeline (`method: none`)."""

    method: Literal["none"] = "none"
