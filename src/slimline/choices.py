"""The user's composition choices, kept in `conf/` so every way of composing starts from them.

`slimline compose OVERRIDES` writes the overrides as a Hydra config, `conf/choices/current.yaml`
(`# @package _global_`, group choices as `override /group: option` in its defaults list, values
as YAML), which `conf/config.yaml` lists last as an optional default. DVC's own Hydra
composition (`dvc exp run -S key=value`) reads the same `conf/`, so an experiment starts from
what the user composed instead of from the bare defaults. The file also sets the top-level
`overrides` key, so `params.yaml` always says which choices it was made with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from slimline.errors import SlimlineError

GROUP = "choices"
OPTION = "current"
HEADER = ("# @package _global_\n"
          "# Written by `slimline compose`: the choices made on top of conf/'s defaults. Both\n"
          "# `slimline compose` and `dvc exp run -S` start from them; re-run `slimline compose`\n"
          "# (with no overrides to go back to the defaults) rather than editing this file.\n")


def choices_file(conf_dir: Path) -> Path:
    """Where the persisted choices live."""
    return Path(conf_dir) / GROUP / f"{OPTION}.yaml"


def _nest(tree: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        node = tree.setdefault(part, {})
        if not isinstance(node, dict):
            raise SlimlineError(f"override {dotted}: {part} is set to a value earlier in the "
                                "same command; give each key once.")
        tree = node
    tree[last] = value


def choices_config(overrides: list[str], conf_dir: Path) -> dict:
    """The Hydra config that applies `overrides` when listed in `conf/config.yaml`.

    Raises:
        SlimlineError: for overrides a config file cannot express (deletions, sweeps).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise SlimlineError(f"cannot parse overrides: {exc}") from None
    groups: list[dict[str, str]] = []
    values: dict = {}
    for o in parsed:
        if o.is_delete():
            raise SlimlineError(f"{o.input_line}: `slimline compose` keeps choices in "
                                f"{choices_file(conf_dir)}, which cannot delete a key; edit "
                                "conf/ instead.")
        if o.is_sweep_override():
            raise SlimlineError(f"{o.input_line} is a sweep; compose one value at a time.")
        group = Path(conf_dir) / o.key_or_group
        if group.is_dir() and isinstance(o.value(), str):
            if not (group / f"{o.value()}.yaml").is_file():
                options = sorted(p.stem for p in group.glob("*.yaml"))
                raise SlimlineError(
                    f"{o.input_line}: {o.key_or_group} has no option {o.value()!r} (no "
                    f"conf/{o.key_or_group}/{o.value()}.yaml); choose one of "
                    f"{', '.join(options)}, e.g. {o.key_or_group}={options[0]}.")
            groups.append({f"override /{o.key_or_group}": o.value()})
        else:
            _nest(values, o.key_or_group, o.value())
    config: dict = {"defaults": [*groups, "_self_"]} if groups else {}
    config.update(values)
    config["overrides"] = [o.input_line for o in parsed]
    return config


def write_choices(overrides: list[str], conf_dir: Path) -> Path | None:
    """Persist `overrides` (or remove the file when there are none); return the file."""
    from slimline._atomic import write_text_atomic

    path = choices_file(conf_dir)
    if not overrides:
        path.unlink(missing_ok=True)
        return None
    text = yaml.safe_dump(choices_config(overrides, conf_dir), sort_keys=False,
                          default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, HEADER + text)
    return path


def read_choices(conf_dir: Path) -> list[str]:
    """The overrides persisted by the last `slimline compose` ([] for the defaults)."""
    path = choices_file(conf_dir)
    if not path.exists():
        return []
    return list((yaml.safe_load(path.read_text()) or {}).get("overrides", []))


def compose_choices(overrides: list[str], conf_dir: Path, root: Path, *,
                    persist: bool = True) -> tuple[dict, list[str]]:
    """Compose `conf_dir` with `overrides` as the new choices, checked against the project.

    The composition runs on a copy of `conf_dir` holding the new choices file, exactly as
    DVC will read it, so what is returned is what `dvc exp run` starts from. The choices are
    persisted only when that composition is valid and passes `preflight` (and `persist`).

    Returns:
        The composed values and the preflight's one-line notices.
    """
    import shutil
    import tempfile

    from slimline.config import compose
    from slimline.preflight import preflight

    conf_dir = Path(conf_dir)
    if not (conf_dir / "config.yaml").exists():
        raise SlimlineError(f"no config.yaml in {conf_dir}: run from a slimline project or pass "
                            "--conf-dir.")
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "conf"
        shutil.copytree(conf_dir, trial, ignore=shutil.ignore_patterns(GROUP))
        write_choices(overrides, trial)
        values = compose([], trial)
    notices = preflight(values, root)
    if persist:
        write_choices(overrides, conf_dir)
    return values, notices
