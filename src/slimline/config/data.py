"""The `data` section: calibration, recovery and evaluation text."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from slimline.config._section import _Section
from slimline.config.model import BUILTIN_DEPS


class SplitConfig(_Section):
    path: str | None = Field(
        None, description="JSONL (one object with a text field per line) or .txt file "
        "(documents separated by blank lines); null = the built-in corpus.")
    num_docs: int | None = Field(None, gt=0, description="Keep at most this many documents.")


class DataConfig(_Section):
    """Calibration, recovery and evaluation text for the downstream stages."""

    source: Literal["builtin", "files"] = "builtin"
    seed: int = Field(0, description="Seed for sampling documents into splits.")
    text_field: str = Field("text", description="Field holding the text in JSONL files.")
    calibration: SplitConfig = SplitConfig(num_docs=256)
    recovery: SplitConfig = SplitConfig(num_docs=4096)
    evaluation: SplitConfig = SplitConfig()
    deps: dict[str, str] | None = Field(
        None, description="What DVC watches for each split (derived: the files, or the "
        "built-in corpus's generator).")

    @model_validator(mode="after")
    def _paths(self) -> DataConfig:
        splits = {"calibration": self.calibration, "recovery": self.recovery,
                  "evaluation": self.evaluation}
        if self.deps is not None and self.deps != {
                name: split.path or BUILTIN_DEPS for name, split in splits.items()}:
            raise ValueError("deps is derived from data.*.path; do not set it")
        for name, split in splits.items():
            if self.source == "files" and not split.path:
                raise ValueError(f"data.source=files needs data.{name}.path")
            if self.source == "builtin" and split.path:
                raise ValueError(f"data.{name}.path is set but data.source=builtin; "
                                 "use data=files to read your own files")
        return self
