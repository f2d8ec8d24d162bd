"""Typed views of the composed configuration, validated once, unknown keys rejected.

Hydra composes `conf/` into `params.yaml` (see `compose`); each stage reads only its own
section and turns it into one of these models straight away, so a typo fails before any
work starts, with a message that names the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from slimline.errors import SlimlineError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TinyTrainConfig(_Section):
    steps: int = Field(224, gt=0, description="Optimizer steps (the budget; not wall time).")
    batch_size: int = Field(32, gt=0, description="Sequences per step.")
    seq_len: int = Field(128, gt=1, description="Tokens per training sequence.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate of AdamW.")
    warmup_steps: int = Field(30, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay.")
    seed: int = Field(0, description="Seed for initialisation and batch sampling.")
    threads: int | None = Field(None, gt=0, description="torch threads; null = all cores.")
    bf16_autocast: bool = Field(
        False, description="Train under bf16 autocast: a win only with native bf16 (AMX).")
    max_minutes: float | None = Field(
        15, gt=0, description="Wall-clock guard: fail instead of training for longer.")


TINY_DEPS = "src/slimline/base/_tiny.py"
BUILTIN_DEPS = "src/slimline/data/corpus.py"


class TinyModelConfig(_Section):
    """The embedded default: a small Llama trained from scratch on the built-in corpus."""

    kind: Literal["tiny"] = "tiny"
    name: str = Field("tiny-llama", description="Name used in lineage and the registry.")
    vocab_size: int = Field(1024, gt=3, description="BPE vocabulary asked of the trainer.")
    hidden_size: int = Field(128, gt=0)
    intermediate_size: int = Field(512, gt=0, description="MLP width (multiple of 128).")
    num_hidden_layers: int = Field(4, gt=0)
    num_attention_heads: int = Field(4, gt=0)
    num_key_value_heads: int = Field(2, gt=0)
    max_position_embeddings: int = Field(128, gt=0)
    train: TinyTrainConfig = TinyTrainConfig()
    deps: str = Field(TINY_DEPS, description="What DVC watches for the base (derived).")

    @model_validator(mode="after")
    def _shapes(self) -> TinyModelConfig:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        if self.train.seq_len > self.max_position_embeddings:
            raise ValueError("train.seq_len must not exceed max_position_embeddings")
        if self.deps != TINY_DEPS:
            raise ValueError(f"deps is derived ({TINY_DEPS} for the tiny base); do not set it")
        return self


class HFModelConfig(_Section):
    """An existing checkpoint: a local directory or a hub id (resolved from the local cache
    when offline)."""

    kind: Literal["hf"] = "hf"
    name: str = Field(description="Name this base goes by in lineage and the registry.")
    source: str = Field(description="Local checkpoint directory or hub id (org/name).")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    link: bool = Field(
        True, description="Hard-link local files into artifacts/base instead of copying.")
    deps: str | None = Field(
        None, description="What DVC watches for the base (derived: the source directory).")

    @model_validator(mode="after")
    def _deps(self) -> HFModelConfig:
        if self.deps is not None and self.deps != self.source:
            raise ValueError("deps is derived from model.source; do not set it")
        return self


ModelConfig = Annotated[TinyModelConfig | HFModelConfig, Field(discriminator="kind")]


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


BUILTIN_TASKS = ("slimline_heldout", "slimline_facts_mc", "slimline_facts_gen")
# Built-in tasks that read the fact probes only the built-in corpus has.
FACT_TASKS = ("slimline_facts_mc", "slimline_facts_gen")


class GoldenSuite(_Section):
    """A user's golden prompts: a JSONL file of {"prompt", "answer"} (scored by exact match of
    the greedy completion) or {"prompt", "choices", "answer"} (multiple choice) rows."""

    path: str = Field(description="JSONL file; relative paths are relative to the project.")
    name: str | None = Field(None, description="Task name (default: golden_<file stem>).")
    stop: list[str] = Field(["\n"], min_length=1,
                            description="Generation stops at the first of these strings.")
    max_gen_toks: int = Field(32, gt=0, description="Most tokens generated per prompt.")

    @property
    def task(self) -> str:
        """The lm-eval task this suite becomes: `name`, or golden_<file stem>."""
        if self.name:
            return self.name
        stem = re.sub(r"[^0-9A-Za-z_]+", "_", Path(self.path).stem).strip("_").lower()
        return f"golden_{stem or 'suite'}"


class SpeedConfig(_Section):
    """Measured speed of the stage's model on the machine that evaluates it."""

    prompt_tokens: int = Field(64, gt=0, description="Prompt length for prefill.")
    new_tokens: int = Field(32, gt=0, description="Tokens decoded greedily after the prompt.")
    batch_size: int = Field(1, gt=0, description="Sequences per forward.")
    repeats: int = Field(3, gt=0, description="Timed repeats (the median is reported).")


class EvalConfig(_Section):
    """The evaluation suite run on every model stage (lm-eval harness).

    Example (conf/eval/default.yaml)::

        tasks: [slimline_heldout, slimline_facts_mc, slimline_facts_gen]
        golden: [golden/support.jsonl]
        limit: null
    """

    tasks: list[str] = Field(
        list(BUILTIN_TASKS), description="lm-eval task names: slimline's built-in tasks or "
        "any task of the lm-eval registry (those need the hub or a datasets cache).")
    golden: list[GoldenSuite] = Field(
        [], description="Golden prompt suites; each becomes an lm-eval task.")
    seq_len: int = Field(128, gt=1, description="Longest context the model is given "
                         "(lm-eval max_length).")
    batch_size: int = Field(16, gt=0)
    num_fewshot: int | None = Field(None, ge=0, description="Few-shot examples (null = each "
                                    "task's own default).")
    limit: int | None = Field(None, gt=0, description="Evaluate at most this many documents "
                              "per task (null = all).")
    seed: int = Field(1234, description="Seed for lm-eval's sampling, few-shot draws and the "
                      "speed prompt.")
    device: str = Field("auto", description="torch device: auto = cuda when present, else cpu.")
    backend: Literal["hf", "vllm"] = Field(
        "hf", description="lm-eval model: hf (transformers) or vllm (lm-eval's vllm model; "
        "needs `pip install 'slimline[gpu]'` on a CUDA machine).")
    speed: SpeedConfig | None = Field(SpeedConfig(), description="null = do not measure.")

    @model_validator(mode="before")
    @classmethod
    def _golden_paths(cls, values: Any) -> Any:
        # `golden: [file.jsonl]` is shorthand for `golden: [{path: file.jsonl}]`.
        if isinstance(values, dict) and isinstance(values.get("golden"), list):
            values = {**values, "golden": [{"path": g} if isinstance(g, str) else g
                                           for g in values["golden"]]}
        return values

    @model_validator(mode="after")
    def _unique(self) -> EvalConfig:
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks lists a task twice")
        return self


class SideBySideSpeedConfig(SpeedConfig):
    """Every stage's model measured in one process, round-robin (the `speed` stage): the only
    speed the report compares across stages."""

    repeats: int = Field(5, gt=0, description="Timed repeats per round (median reported).")
    rounds: int = Field(3, gt=0, description="Round-robin passes over the stages; each "
                        "stage's number is the median of its rounds.")
    device: str = Field("auto", description="torch device: auto = cuda when present, else cpu.")


class FitConfig(_Section):
    """The report's hardware-fit table: weights + KV cache against GPU memory sizes."""

    contexts: list[int] = Field([2048, 8192, 32768], min_length=1, description="Context "
                                "lengths in tokens (capped at each model's "
                                "max_position_embeddings).")
    batch_sizes: list[int] = Field([1, 16], min_length=1, description="Concurrent sequences.")
    gpus_gib: list[float] = Field([24, 48, 80, 141], min_length=1, description="GPU memory "
                                  "sizes in GiB (vendors' \"80GB\" A100 has 80 GiB).")
    utilization: float = Field(0.9, gt=0, le=1, description="vLLM's gpu_memory_utilization: "
                               "the share of GPU memory for weights and KV cache.")
    reserve_gib: float = Field(0.0, ge=0, description="GiB set aside for activations and "
                               "CUDA graphs before the KV cache.")
    cache_dtype: Literal["auto", "float16", "bfloat16", "float32", "fp8"] = Field(
        "auto", description="KV-cache dtype; auto = the checkpoint's dtype (vLLM's default).")

    @model_validator(mode="after")
    def _positive(self) -> FitConfig:
        for name in ("contexts", "batch_sizes", "gpus_gib"):
            if any(v <= 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must all be positive")
        return self


class ReportConfig(_Section):
    """The report and the side-by-side speed measurement it reads.

    Example (conf/report/default.yaml)::

        speed: {prompt_tokens: 64, new_tokens: 32, rounds: 3}
        fit: {contexts: [2048, 8192], gpus_gib: [24, 80], utilization: 0.9}
    """

    speed: SideBySideSpeedConfig = SideBySideSpeedConfig()
    fit: FitConfig = FitConfig()


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


class RuntimeConfig(_Section):
    """Where every model stage (prune, recover, quantize, eval) computes, and in what.

    Checkpoints keep their stored dtype on disk whatever the compute dtype
    (`slimline.runtime.resolve` makes the decision).

    Example (conf/runtime/default.yaml)::

        device: auto        # cuda when torch sees a GPU, else cpu
        dtype: auto         # bf16 on CUDA and on CPUs with native bf16, fp32 otherwise
        threads: null
    """

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto (cuda when present, else cpu), cpu, cuda or cuda:N.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Compute dtype: auto = bf16 on CUDA with bf16 support and on CPUs "
        "with native bf16, fp32 otherwise.")
    threads: int | None = Field(None, gt=0, description="torch CPU threads; null = all cores.")

    def resolve(self):
        """(torch.device, compute torch.dtype) for this machine; sets the thread count."""
        import torch

        from slimline import runtime

        if self.threads:
            torch.set_num_threads(self.threads)
        return runtime.resolve(self.device, self.dtype)


class SkippedStage(_Section):
    """A stage that is not part of this pipeline (`method: none`)."""

    method: Literal["none"] = "none"


class PruneConfig(_Section):
    """Structured pruning in the manner of LLM-Pruner, uniform over all layers.

    Example (conf/prune/taylor.yaml)::

        method: structured
        estimator: taylor_first
        channel_ratio: 0.25
    """

    method: Literal["structured"] = "structured"
    estimator: Literal["taylor_first", "taylor_vector", "taylor_second", "magnitude",
                       "random"] = Field("taylor_first", description="Importance estimator.")
    channel_ratio: float = Field(0.25, description="Share of MLP channels removed per layer.")
    head_ratio: float = Field(0.0, description="Share of query heads removed per kv group.")
    kv_group_ratio: float = Field(0.0, description="Share of whole kv groups removed.")
    round_to: int = Field(128, description="Pruned widths are multiples of this (use the "
                          "quantization group size).")
    num_batches: int = Field(8, gt=0, description="Calibration batches for the gradients.")
    batch_size: int = Field(4, gt=0, description="Sequences per calibration batch.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed (the random estimator uses it).")


PruneStageConfig = Annotated[SkippedStage | PruneConfig, Field(discriminator="method")]


_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LoraRecoverConfig(_Section):
    """A short LoRA fine-tune on the recovery split, merged back into plain weights.

    Example (conf/recover/lora.yaml)::

        method: lora
        rank: 8
        steps: 64
    """

    method: Literal["lora"] = "lora"
    rank: int = Field(8, gt=0, description="LoRA rank r.")
    alpha: float = Field(16, gt=0, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(default_factory=lambda: list(_LINEAR),
                                      description="Linear layers that get adapters.")
    lr: float = Field(2e-3, gt=0, description="Peak learning rate of AdamW.")
    steps: int = Field(64, gt=0, description="Optimizer steps.")
    warmup_steps: int = Field(10, ge=0)
    batch_size: int = Field(16, gt=0)
    seq_len: int = Field(128, gt=1)
    seed: int = Field(0, description="Seed for adapter initialisation and batch sampling.")


class DistillRecoverConfig(LoraRecoverConfig):
    """LoRA trained to match the base model's logits (Minitron-style distillation).

    loss = kd_weight * T^2 * KL(teacher_T || student_T) + (1 - kd_weight) * LM loss
    """

    method: Literal["distill"] = "distill"  # type: ignore[assignment]
    temperature: float = Field(2.0, gt=0, description="Softmax temperature T of both models.")
    kd_weight: float = Field(1.0, ge=0, le=1, description="Share of the KL term in the loss.")


RecoverStageConfig = Annotated[SkippedStage | LoraRecoverConfig | DistillRecoverConfig,
                               Field(discriminator="method")]


class QuantizeConfig(_Section):
    """Post-training weight quantization through llm-compressor (compressed-tensors output).

    Example (conf/quantize/gptq.yaml)::

        method: gptq
        bits: 4
        group_size: 128
        symmetric: true
        ignore: [lm_head]
    """

    method: Literal["gptq", "awq", "rtn"] = Field(
        "gptq", description="GPTQ (Frantar et al. 2022), AWQ (Lin et al. 2023) or "
        "round-to-nearest.")
    bits: Literal[4, 8] = Field(4, description="Weight bits (activations stay 16-bit).")
    group_size: int = Field(128, gt=0, description="Input columns sharing one scale.")
    symmetric: bool = Field(True, description="Symmetric (no zero point) or asymmetric.")
    ignore: list[str] = Field(default_factory=lambda: ["lm_head"],
                              description="Layers left unquantized (names or re:patterns).")
    num_samples: int = Field(64, gt=0, description="Calibration sequences.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed for choosing calibration sequences.")


QuantizeStageConfig = Annotated[SkippedStage | QuantizeConfig, Field(discriminator="method")]


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
# pydantic puts the chosen member of a tagged union into error locations; users never see
# that level in their YAML.
_UNION_TAGS = frozenset({"tiny", "hf", "none", "structured", "lora", "distill", "gptq",
                         "awq", "rtn"})


def _location(where: str, loc: tuple) -> str:
    parts = [where] if where else []
    return ".".join(parts + [str(p) for p in loc if p not in _UNION_TAGS])


def parse_section(model: type[S] | Any, values: Any, where: str) -> S:
    """Validate one section of params.yaml; raise SlimlineError naming the bad keys."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(model).validate_python(values)
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (_location(where, e["loc"]),
                                    e["msg"].removeprefix("Value error, "))))
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
