"""The chain of model stages, declared once: base -> pruned -> recovered -> quantized.

Each model stage has two names: the artifact it makes (`pruned`: its directory under
`artifacts/`, its `slimline.json` stage, its evaluation target, its registry alias) and the
DVC stage that makes it (`prune`: its `dvc.yaml` entry, its MLflow `slimline.stage` tag).
The report, the registry, the pipelines, the build functions and the bench take the order,
the parents, the config sections and the data splits from `CHAIN`; `tests/test_stages.py`
checks it against `dvc.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass

from slimline.errors import SlimlineError


@dataclass(frozen=True)
class ModelStage:
    """One link of the chain.

    Attributes:
        name: the artifact it makes (`artifacts/<name>`, evaluation target, alias).
        dvc_stage: the `dvc.yaml` stage that makes it (also the MLflow run's stage tag).
        section: the params.yaml section that configures it.
        parent: the model stage it starts from (None for the base).
        reads_split: the data split it reads (None when it reads none).
        activity: what it does, as the skipped-stage card says ("Pruning skipped ...").
    """

    name: str
    dvc_stage: str
    section: str
    parent: str | None = None
    reads_split: str | None = None
    activity: str = ""

    @property
    def title(self) -> str:
        """The model card's title of a transforming stage's artifact ("pruned model")."""
        return f"{self.name} model"

    def skipped_story(self) -> str:
        """The model card's text when the stage is configured `method: none`."""
        return (f"{self.activity} skipped ({self.section}=none): the {self.parent} "
                "checkpoint, unchanged.")


CHAIN: tuple[ModelStage, ...] = (
    ModelStage("base", "base", "model"),
    ModelStage("pruned", "prune", "prune", parent="base", reads_split="calibration",
               activity="Pruning"),
    ModelStage("recovered", "recover", "recover", parent="pruned", reads_split="recovery",
               activity="Recovery"),
    ModelStage("quantized", "quantize", "quantize", parent="recovered",
               reads_split="calibration", activity="Quantization"),
)

MODEL_STAGES: tuple[str, ...] = tuple(s.name for s in CHAIN)
# params.yaml section of each model stage, by artifact name (the registry's version params).
STAGE_SECTIONS: dict[str, str] = {s.name: s.section for s in CHAIN}
# The DVC stage (MLflow `slimline.stage` tag) that writes each artifact.
PRODUCER_STAGES: dict[str, str] = {s.name: s.dvc_stage for s in CHAIN}


def model_stage(name: str) -> ModelStage:
    """The chain's stage named `name`, by artifact name (`pruned`) or DVC stage (`prune`)."""
    for stage in CHAIN:
        if name in (stage.name, stage.dvc_stage):
            return stage
    raise SlimlineError(f"{name!r} is not a model stage: the chain is "
                        f"{' -> '.join(MODEL_STAGES)} (slimline.stages.CHAIN).")
