"""Checks at composition of what the configuration asks of files and models outside it.

`config.Params` validates each value; these checks need the project's files: data sizes
against the documents really there, golden suites DVC can watch, a local base checkpoint, and
how a pruning ratio rounds on the base's real widths. Errors stop `slimline compose` before
`params.yaml` or the choices change; notices are one line each and do not stop it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimline.errors import SlimlineError

GOLDEN_DIR = "golden"


def _split_sizes(data: dict, root: Path) -> None:
    from slimline.data.splits import SPLITS, builtin_size, read_documents

    if data["source"] == "builtin":
        wanted = sum(data[s]["num_docs"] or 0 for s in ("calibration", "recovery"))
        available, heldout = builtin_size()
        if wanted > available:
            raise SlimlineError(
                f"data.calibration.num_docs + data.recovery.num_docs = {wanted} exceeds the "
                f"{available} training documents of the built-in corpus: lower one of them.")
        wanted = data["evaluation"]["num_docs"] or 0
        if wanted > heldout:
            raise SlimlineError(
                f"data.evaluation.num_docs={wanted} exceeds the {heldout} held-out documents of "
                "the built-in corpus: lower it, or set it to null to use them all.")
        return
    for name in SPLITS:
        split = data[name]
        path = root / split["path"]
        if not path.is_file():
            raise SlimlineError(f"data.{name}.path={split['path']} does not exist (relative paths "
                                f"are relative to the project, {root}): fix the path.")
        count = len(read_documents(path, data["text_field"]))
        if split["num_docs"] and split["num_docs"] > count:
            raise SlimlineError(
                f"data.{name}.num_docs={split['num_docs']} but {split['path']} holds {count} "
                f"documents: lower it to at most {count}, or set data.{name}.num_docs=null "
                "to use them all.")


def _golden(suites: list[Any], root: Path) -> None:
    from slimline.evaluate.golden import read_golden

    for suite in suites:
        path = suite["path"] if isinstance(suite, dict) else suite
        parts = Path(path).parts
        if Path(path).is_absolute() or not parts or parts[0] != GOLDEN_DIR:
            raise SlimlineError(
                f"eval.golden: {path} is outside {GOLDEN_DIR}/; the evaluation stages watch "
                f"{GOLDEN_DIR}/ (a DVC dependency), so move the file there and name it "
                f"{GOLDEN_DIR}/{Path(path).name}.")
        read_golden(root / path)


def _model_config(model: dict, root: Path) -> dict:
    """The base's architecture settings (config.json's keys), as far as known now."""
    if model["kind"] == "tiny":
        return model
    source = root / model["source"]
    if not source.is_dir():
        if Path(model["source"]).is_absolute() or model["source"].startswith((".", "~")) \
                or model["source"].count("/") != 1:
            raise SlimlineError(f"model.source={model['source']} does not exist: point it at "
                                "a local checkpoint directory.")
        raise SlimlineError(
            f"model.source={model['source']} is a hub id, but the base is a DVC dependency "
            "(model.deps) and DVC watches only local files: download it once (`hf download "
            f"{model['source']} --local-dir DIR`) and set model.source=DIR.")
    from slimline.base._hf import check_checkpoint

    return check_checkpoint(source, model["source"])


def _architecture(values: dict, cfg: dict) -> None:
    """Refuse, now rather than after the base stage, a base the prune stage cannot prune."""
    from types import SimpleNamespace

    from slimline.prune.structure import model_shape

    if values["prune"].get("method") != "structured" or values["model"]["kind"] == "tiny":
        return  # the other methods' stages check their own needs
    try:
        model_shape(SimpleNamespace(**cfg))
    except AttributeError:
        return  # a supported family without a usual width key: the stage will say
    except SlimlineError as exc:
        raise SlimlineError(f"model.source={values['model']['source']}: {exc}") from None


def _lm_eval_mentions(names: set[str]) -> set[str]:
    """Which of `names` appear anywhere in lm-eval's task YAML files.

    Indexing lm-eval's registry takes tens of seconds, too long for composing; every task
    and group is named in a YAML file, so a name found in none of them is certainly unknown
    (the evaluate stage's TaskManager makes the exact check).
    """
    from importlib.util import find_spec

    spec = find_spec("lm_eval")  # located, not imported: importing lm-eval takes seconds
    if spec is None or spec.origin is None:
        return set()
    found: set[str] = set()
    wanted = {n: n.encode() for n in names}
    for path in (Path(spec.origin).parent / "tasks").rglob("*.yaml"):
        text = path.read_bytes()  # bytes: decoding 14,000 files costs seconds
        found.update(n for n in names - found if wanted[n] in text)
        if found == names:
            break
    return found


def _eval_tasks(values: dict) -> None:
    from slimline.config import BUILTIN_TASKS, parse_section
    from slimline.config.eval import EvalConfig

    cfg = parse_section(EvalConfig, values["eval"], "eval")
    others = set(cfg.tasks) - set(BUILTIN_TASKS) - {g.task for g in cfg.golden}
    unknown = sorted(others - _lm_eval_mentions(others)) if others else []
    if unknown:
        raise SlimlineError(
            f"eval.tasks names {', '.join(unknown)}, which is neither a slimline task "
            f"({', '.join(BUILTIN_TASKS)}), a golden suite (eval.golden) nor an lm-eval task: "
            "check the spelling (`lm-eval ls tasks` lists lm-eval's).")


def _model_shape(cfg: dict) -> tuple[int, int, int, int] | None:
    """(intermediate, heads, kv heads, hidden) of the base, where it can be known now."""
    try:
        return (cfg["intermediate_size"], cfg["num_attention_heads"],
                cfg.get("num_key_value_heads") or cfg["num_attention_heads"], cfg["hidden_size"])
    except (KeyError, TypeError):
        return None  # an architecture the prune stage will name when it refuses it


def _speed_lengths(values: dict, cfg: dict) -> None:
    longest = cfg.get("max_position_embeddings")
    settings = (("eval.speed", values["eval"].get("speed")),
                ("report.speed", values.get("report", {}).get("speed")))
    for key, speed in settings:
        if longest and speed and speed["prompt_tokens"] + speed["new_tokens"] > longest:
            raise SlimlineError(
                f"{key}.prompt_tokens + {key}.new_tokens = "
                f"{speed['prompt_tokens'] + speed['new_tokens']} exceeds the base's "
                f"max_position_embeddings ({longest}): lower them.")


def _plan(values: dict, cfg: dict) -> Any:
    """The structured prune's plan on the base's real widths (None: no structured prune, or
    widths not known before the base exists)."""
    prune = values["prune"]
    shape = _model_shape(cfg)
    if prune.get("method") != "structured" or shape is None:
        return None
    from slimline.prune.plan import make_plan
    from slimline.prune.structure import Shape

    inter, heads, kv, hidden = shape
    return make_plan(Shape(inter, heads, kv, cfg.get("head_dim") or hidden // heads), hidden,
                     channel_ratio=prune["channel_ratio"], head_ratio=prune["head_ratio"],
                     kv_group_ratio=prune["kv_group_ratio"], round_to=prune["round_to"])


def _prune_notices(values: dict, plan: Any) -> list[str]:
    if plan is None:
        return []
    from slimline.prune.plan import rounding_notices

    prune = values["prune"]
    return rounding_notices(plan, channel_ratio=prune["channel_ratio"],
                            head_ratio=prune["head_ratio"],
                            kv_group_ratio=prune["kv_group_ratio"], round_to=prune["round_to"])


# Quantizers that keep a 2:4 parent's zeros (zero maps to zero); GPTQ-based ones move
# weights to compensate error and fill some (llm-compressor 0.14 has no mask option).
KEEPS_ZEROS = ("rtn", "fp8", "none")


def _sparsity_notices(values: dict) -> list[str]:
    method = values["quantize"].get("method")
    if values["prune"].get("method") != "sparse24" or method in KEEPS_ZEROS:
        return []
    return [f"prune=sparse24 then quantize={method}: {method} fills some of the 2:4 zeros "
            "(llm-compressor has no mask option), so the quantized model is no longer 2:4; "
            f"quantize={' or quantize='.join(KEEPS_ZEROS[:2])} keeps them."]


def _group_widths(values: dict, cfg: dict, plan: Any) -> None:
    """Refuse a quantization group size that does not divide the widths the quantize stage
    will meet (after pruning), instead of failing there after the model stages before it.

    Only for the default `quantize.ignore` (the stage applies llm-compressor's ignore rules
    to the real module names)."""
    from slimline.config.quantize import FIXED_FORMAT_METHODS

    quantize, shape = values["quantize"], _model_shape(cfg)
    group = quantize.get("group_size")
    if (quantize.get("method") in ("none", *FIXED_FORMAT_METHODS) or not group
            or shape is None or set(quantize.get("ignore", [])) - {"lm_head"}):
        return
    inter, heads, _, hidden = shape
    head_dim = cfg.get("head_dim") or hidden // heads
    if plan is not None:
        inter, heads, head_dim = (plan.after.intermediate_size, plan.after.num_attention_heads,
                                  plan.after.head_dim)
    widths = {"hidden_size (q/k/v, gate and up inputs)": hidden,
              "attention output (o_proj input)": heads * head_dim,
              "MLP width (down_proj input)": inter}
    bad = [name for name, width in widths.items() if width % group]
    if bad:
        pruned = plan is not None and any(not name.startswith("hidden") for name in bad)
        raise SlimlineError(
            f"quantize.group_size={group} does not divide the widths the quantize stage will "
            f"see: {', '.join(f'{name} {widths[name]}' for name in bad)}. Choose a group size "
            "that divides them" + (f", or set prune.round_to to a multiple of {group} so "
                                   "the pruned widths fit" if pruned else "") + ".")


def preflight(values: dict, root: Path) -> list[str]:
    """Check `values` (a validated composition) against the project at `root`.

    Returns:
        One-line notices (settings that will be rounded or capped).

    Raises:
        SlimlineError: naming the setting and the fix, for what cannot work.
    """
    root = Path(root)
    # Cheapest first: the data sizes build the built-in corpus (seconds).
    _eval_tasks(values)
    cfg = _model_config(values["model"], root)
    _architecture(values, cfg)
    _speed_lengths(values, cfg)
    plan = _plan(values, cfg)
    _group_widths(values, cfg, plan)
    _split_sizes(values["data"], root)
    _golden(values["eval"]["golden"], root)
    return _prune_notices(values, plan) + _sparsity_notices(values)
