"""The `registry` section: the MLflow experiment, registered model and gates."""

from __future__ import annotations

from pydantic import Field, model_validator

from slimline.config._section import _Section


class RegistryConfig(_Section):
    """Where lineage goes, and what a version must keep to be promoted.

    Example (conf/registry/default.yaml)::

        model_name: slimline
        gates:
          slimline_heldout: {word_perplexity: 0.95}   # keep >= 95% of the base's quality
    """

    experiment: str = Field("slimline", description="MLflow experiment for all stage runs.")
    model_name: str = Field(pattern=r"^[\w.-]+$",
                            description="Registered model holding every stage's versions.")
    gates: dict[str, dict[str, float] | None] = Field(
        {}, description="{task: {metric: least retention}} checked by `slimline promote`: "
        "value/base (higher is better) or base/value (lower is better) against the base "
        "version of the same lineage. A task set to null has no gate (how an override drops "
        "a default gate: registry.gates.TASK=null).")

    @model_validator(mode="after")
    def _gates(self) -> RegistryConfig:
        for task, metrics in self.gates.items():
            for metric, least in (metrics or {}).items():
                if not 0 < least <= 1.5:
                    raise ValueError(f"gates.{task}.{metric} = {least}: a least retention is a "
                                     "share of the base's quality, e.g. 0.95")
        return self

    def gate_items(self) -> dict[str, float]:
        """Gates by flat metric name (`task.metric`)."""
        return {f"{task}.{metric}": least for task, metrics in self.gates.items()
                for metric, least in (metrics or {}).items()}
