"""A sweep's points: Hydra sweep overrides expanded into a grid, each point named by what it
changes, and an order in which points that share stages run after the one that builds them.

Pure functions: no DVC, no MLflow.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slimline.errors import SlimlineError

# The model stages in pipeline order, by the params section each reads. A point that changes
# a section re-runs that stage and everything after it; other sections (eval, registry...)
# come after every model stage, so points differing only there share all model stages.
SECTION_LEVEL = {"data": 0, "model": 1, "prune": 2, "recover": 3, "quantize": 4}
LAST_LEVEL = len(SECTION_LEVEL)
# The `dvc.yaml` stage each level runs.
LEVEL_STAGES = ("data", "base", "prune", "recover", "quantize")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_PREFIX = "sw-"


@dataclass(frozen=True)
class Point:
    """One recipe of the grid: `dvc exp run -S` overrides, in the order given."""

    overrides: tuple[str, ...]
    name: str

    def signature(self, level: int) -> tuple[str, ...]:
        """The overrides that decide the stages up to `level`: two points with the same
        signature at a level share those stages (and DVC's run cache serves the second)."""
        return tuple(o for o in self.overrides if _level(o) <= level)

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or "(the composed recipe)"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _level(override: str) -> int:
    return SECTION_LEVEL.get(_key(override).split(".", 1)[0], LAST_LEVEL)


def expand(overrides: Sequence[str]) -> list[list[str]]:
    """Hydra sweep overrides (`a=1,2 b=x,y`, `range(...)`, `choice(...)`) → one list of plain
    overrides per grid point (cartesian product, first override varying slowest)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise SlimlineError(f"cannot parse the sweep overrides: {exc}") from None
    axes: list[list[str]] = []
    for item in parsed:
        key = item.get_key_element()
        if item.is_sweep_override():
            values = list(item.sweep_string_iterator())
            if not values:
                raise SlimlineError(f"{key} sweeps over no values.")
            axes.append([f"{key}={v}" for v in values])
        elif item.is_delete():
            raise SlimlineError(f"{key}: a deletion (~key) cannot be swept; set it to null.")
        else:
            axes.append([f"{key}={item.get_value_element_as_str()}"])
    return [list(combo) for combo in itertools.product(*axes)]


def point_name(overrides: Sequence[str], context: str = "") -> str:
    """A DVC experiment name derived from the point: readable values plus a digest of the
    overrides and `context` (the composition it starts from), so an unchanged point keeps
    its name and a second sweep recognises it."""
    digest = hashlib.sha256("\n".join([context, *overrides]).encode()).hexdigest()[:6]
    parts = []
    for o in overrides:
        key, _, value = o.partition("=")
        last = key.lstrip("+~").rsplit(".", 1)[-1]
        parts.append(value if "." not in key else f"{last}{value}")
    slug = _UNSAFE.sub("_", "-".join(parts)).strip("._-")[:48].rstrip("._-")
    return f"{NAME_PREFIX}{digest}" + (f"-{slug}" if slug else "")


def make_points(grid: Iterable[Sequence[str]], context: str = "") -> list[Point]:
    """Name each grid point; identical points are kept once."""
    seen: dict[str, Point] = {}
    for overrides in grid:
        point = Point(tuple(overrides), point_name(overrides, context))
        seen.setdefault(point.name, point)
    return list(seen.values())


def waves(points: Sequence[Point], done: Sequence[Point] = (),
          built: int = 0) -> list[list[Point]]:
    """Split `points` into waves run one after the other, so that a stage shared by several
    points is built once, by the first, and served from DVC's run cache to the rest: a
    point runs in the wave after the ones that build any stage prefix it shares (`done`
    points count as built), and never beside a point it shares an unbuilt stage with.
    `built` is how many model stages (`LEVEL_STAGES`) the baseline itself holds up to date:
    a point that changes none of them reuses them from the start.

    A 3 × 2 grid of `prune.channel_ratio` × `quantize` gives waves of 1, 3 and 2 points: one
    full pipeline; the other two prunes and the first ratio's other quantizer; the rest.
    """
    levels = range(LAST_LEVEL + 1)
    builder: dict[tuple[int, tuple[str, ...]], int] = {
        (level, p.signature(level)): 0 for p in done for level in levels}
    builder.update({(level, ()): 0 for level in range(min(built, LAST_LEVEL))})
    out: list[list[Point]] = []
    for point in points:
        keys = [(level, point.signature(level)) for level in levels]
        wave = 1 + max((builder[k] for k in keys if k in builder), default=0)
        for k in keys:
            builder.setdefault(k, wave)
        out += [[] for _ in range(wave - len(out))]
        out[wave - 1].append(point)
    return [w for w in out if w]


def load_grid_file(path: Path) -> tuple[list[str], dict]:
    """A `conf/sweep/NAME.yaml`: `grid:` maps keys to lists of values (or a scalar), or
    `overrides:` lists Hydra sweep overrides; `jobs:` and `alias:` are optional defaults."""
    import yaml

    if not path.exists():
        raise SlimlineError(f"no sweep file {path}: write conf/sweep/NAME.yaml with a `grid:`.")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - {"grid", "overrides", "jobs", "alias"}
    if unknown:
        raise SlimlineError(f"{path}: unknown keys {sorted(unknown)} (grid, overrides, jobs, "
                            "alias).")
    overrides = [str(o) for o in spec.get("overrides") or []]
    for key, values in (spec.get("grid") or {}).items():
        values = values if isinstance(values, list) else [values]
        overrides.append(f"{key}=" + ",".join(_literal(v) for v in values))
    if not overrides:
        raise SlimlineError(f"{path} sweeps nothing: give `grid:` or `overrides:`.")
    return overrides, {k: spec[k] for k in ("jobs", "alias") if k in spec}


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
