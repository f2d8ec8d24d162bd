"""Typed views of the composed configuration, validated once, unknown keys rejected.

Hydra composes `conf/` into `params.yaml` (see `compose`); each stage reads only its own
section and turns it into one of these models straight away, so a typo fails before any
work starts, with a message that names the key. One module per section (`model`, `data`,
`eval`, `report`, `registry`, `runtime`, `prune`, `recover`, `quantize`); this module holds
the whole (`Params`) and the parsing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, Field, ValidationError, model_validator

from slimline.config._section import SkippedStage, _Section
from slimline.config.data import DataConfig, SplitConfig
from slimline.config.eval import (
    BUILTIN_TASKS,
    FACT_TASKS,
    EvalConfig,
    GoldenSuite,
    SpeedConfig,
)
from slimline.config.model import (
    BUILTIN_DEPS,
    TINY_DEPS,
    HFModelConfig,
    ModelConfig,
    TinyModelConfig,
    TinyTrainConfig,
)
from slimline.config.prune import PruneConfig, PruneStageConfig
from slimline.config.quantize import QuantizeConfig, QuantizeStageConfig
from slimline.config.recover import (
    DistillRecoverConfig,
    LoraRecoverConfig,
    RecoverStageConfig,
)
from slimline.config.registry import RegistryConfig
from slimline.config.report import FitConfig, ReportConfig, SideBySideSpeedConfig
from slimline.config.runtime import RuntimeConfig
from slimline.errors import SlimlineError

__all__ = [
    "BUILTIN_DEPS", "BUILTIN_TASKS", "FACT_TASKS", "TINY_DEPS", "DataConfig",
    "DistillRecoverConfig", "EvalConfig", "FitConfig", "GoldenSuite", "HFModelConfig",
    "LoraRecoverConfig", "ModelConfig", "Params", "PruneConfig", "PruneStageConfig",
    "QuantizeConfig", "QuantizeStageConfig", "RecoverStageConfig", "RegistryConfig",
    "ReportConfig", "RuntimeConfig", "SideBySideSpeedConfig", "SkippedStage", "SpeedConfig",
    "SplitConfig", "TinyModelConfig", "TinyTrainConfig", "compose", "parse_model",
    "parse_section",
]


class Params(_Section):
    """The whole of params.yaml."""

    overrides: list[str] = Field(
        [], description="The choices `slimline compose` made on top of conf/'s defaults "
        "(kept in conf/choices/current.yaml, which `dvc exp run -S` composes too).")
    model: ModelConfig
    data: DataConfig
    prune: PruneStageConfig
    recover: RecoverStageConfig
    quantize: QuantizeStageConfig
    eval: EvalConfig
    registry: RegistryConfig
    report: ReportConfig = ReportConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @model_validator(mode="after")
    def _suite_fits_data(self) -> Params:
        facts = [t for t in self.eval.tasks if t in FACT_TASKS]
        if facts and self.data.source == "files":
            raise ValueError(
                f"eval.tasks has {', '.join(facts)}, which need the built-in corpus's fact probes, "
                "but data.source=files. Evaluate your data with eval.tasks=[slimline_heldout] "
                "and your own golden suites (eval.golden=[golden/FILE.jsonl])")
        suite = {*self.eval.tasks, *(g.task for g in self.eval.golden)}
        stray = sorted(t for t, m in self.registry.gates.items() if m and t not in suite)
        if stray:
            raise ValueError(
                f"registry.gates has gates on {', '.join(stray)}, which the suite does not "
                f"evaluate (tasks: {', '.join(sorted(suite))}), so no version could pass them: "
                "add the task to eval.tasks or drop its gate with "
                f"registry.gates.{stray[0]}=null")
        return self


S = TypeVar("S", bound=BaseModel)


def _union_tags() -> frozenset[str]:
    """The discriminator values of every tagged union (model.kind, <stage>.method): pydantic
    puts the chosen member into error locations; users never see that level in their YAML."""
    tags: set[str] = set()
    for union in (ModelConfig, PruneStageConfig, RecoverStageConfig, QuantizeStageConfig):
        members, info = get_args(union)
        for member in get_args(members):
            field = member.model_fields[info.discriminator]
            tags.update(get_args(field.annotation))
    return frozenset(tags)


_UNION_TAGS = _union_tags()


def _location(where: str, loc: tuple) -> str:
    parts = [where] if where else []
    return ".".join(parts + [str(p) for p in loc if p not in _UNION_TAGS])


def _field_names(tp: Any, seen: set[type]) -> set[str]:
    """Every key any section model (reachable from `tp`) accepts."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return set()
        seen.add(tp)
        names = set(tp.model_fields)
        for f in tp.model_fields.values():
            names |= _field_names(f.annotation, seen)
        return names
    return set().union(*(_field_names(arg, seen) for arg in get_args(tp)))


def _problem(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        import difflib

        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, _field_names(Params, set()), n=1, cutoff=0.7)
        return ("unknown key" + (f" (did you mean {close[0]}?)" if close else "")
                + ": correct or remove it")
    return error["msg"].removeprefix("Value error, ")


def parse_section(model: type[S] | Any, values: Any, where: str) -> S:
    """Validate one section of params.yaml; raise SlimlineError naming the bad keys."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(model).validate_python(values)
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (_location(where, e["loc"]), _problem(e))))
            for e in exc.errors())
        raise SlimlineError(
            f"invalid configuration: {problems}. Fix it in conf/ and run `slimline compose`, "
            "or pass an override."
        ) from None


def parse_model(values: Any) -> TinyModelConfig | HFModelConfig:
    return parse_section(ModelConfig, values, "model")


def compose(overrides: list[str], conf_dir: Path, config_name: str = "config") -> dict:
    """Compose `conf_dir` with Hydra override grammar into a plain, validated dict."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if not (conf_dir / f"{config_name}.yaml").exists():
        raise SlimlineError(f"no {config_name}.yaml in {conf_dir}: run from a slimline project "
                            "or pass --conf-dir.")
    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
        values = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = exc.full_key
        raise SlimlineError(f"{key} has no value (it is ??? in conf/): pass it as an override, "
                            f"e.g. `slimline compose ... {key}=VALUE`.") from None
    except (HydraException, OmegaConfBaseException) as exc:
        raise SlimlineError(str(exc)) from None
    parse_section(Params, values, "")
    return values
