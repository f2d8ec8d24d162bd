"""Importance scores of every structure group: computed once, kept as a small artifact.

One float32 vector per decoder layer and group kind, named `layers.{i}.{kind}` (the kinds of
`structure.groups`), goes to `importance.safetensors` in the pruned artifact; `importance.json`
says how they were made (estimator, batches, calibration token digest, parent, runtime). A
prune of the same parent at another ratio can take them back instead of running the backward
pass again, since scores do not depend on the ratio (the `random` control excepted: it draws
only the kinds its plan prunes, in the order the original implementation did).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from slimline.errors import SlimlineError
from slimline.prune import importance as imp
from slimline.prune.architectures import layer_map
from slimline.prune.plan import Plan
from slimline.prune.structure import Shape, decoder_layers, group_sizes, groups

SCORES_FILE = "importance.safetensors"
SCORES_META = "importance.json"
Scores = dict[str, torch.Tensor]


def _drawn(est: imp.Estimator, plan: Plan, num_layers: int, seed: int) -> Scores:
    gen = torch.Generator().manual_seed(seed)
    sizes = group_sizes(plan.before)
    kinds = (["mlp_channels"] if plan.after.intermediate_size != plan.before.intermediate_size
             else []) + (["query_heads", "kv_heads"] if plan.prunes_attention else [])
    return {f"layers.{i}.{kind}": est.draw(sizes[kind][0], gen)
            for i in range(num_layers) for kind in kinds}


def compute_scores(model, plan: Plan, estimator: str, batches: list[torch.Tensor] | None = None,
                   *, seed: int = 0, compute_dtype: torch.dtype = torch.float32,
                   device: torch.device | None = None) -> Scores:
    """Score every group of every decoder layer of `model` with `estimator`.

    What runs follows what the estimator needs (`importance.Needs`): nothing but the
    weights, a backward pass (`_gradients`), a forward pass (`activations`), or a draw.

    Args:
        model: a supported decoder (see `architectures.SUPPORTED`), on `device`.
        plan: the pruning plan (its `before` shape sizes the groups; `random` also reads
            which kinds it prunes).
        estimator: a name in `importance.ESTIMATORS`.
        batches: token id batches for the estimators that need calibration.
        seed: seed of the `random` control.
        compute_dtype: dtype of the forward and backward arithmetic (see `slimline.runtime`).
        device: where batches go (the model's device).
    """
    est = imp.get(estimator)
    arch = layer_map(model.config.model_type)
    layers = decoder_layers(model, arch)
    if est.draw is not None:
        return _drawn(est, plan, len(layers), seed)
    if est.needs_calibration and not batches:
        raise ValueError(f"{estimator} needs calibration batches")
    device = device or torch.device("cpu")
    if est.needs & imp.Needs.ACTIVATIONS:
        from slimline.prune.activations import activation_scores

        return activation_scores(model, arch, plan, est, batches, compute_dtype=compute_dtype,
                                 device=device)
    from slimline.prune._gradients import _Sink, run_backward

    sizes = group_sizes(plan.before)
    sinks = {(i, kind): [_Sink(layer.get_submodule(path), est, *sizes[kind], axis, start)
                         for path, axis, start in parts]
             for i, layer in enumerate(layers)
             for kind, parts in groups(arch, plan.before).items()}
    if est.needs_gradients:
        per_layer = [[s for (j, _), group in sinks.items() if j == i for s in group]
                     for i in range(len(layers))]
        run_backward(model, per_layer, batches, compute_dtype=compute_dtype, device=device)
    scores = {}
    for (i, kind), group in sinks.items():
        total = torch.zeros(group[0].n)
        for sink in group:
            sink.add_to(total)
        scores[f"layers.{i}.{kind}"] = est.finish(total)
    return scores


def save_scores(directory: Path, scores: Scores, meta: dict) -> None:
    """Write `importance.safetensors` and `importance.json` into `directory`."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in scores.items()}, str(Path(directory) / SCORES_FILE))
    (Path(directory) / SCORES_META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_scores(directory: Path, *, shape: Shape, parent_digest: str | None = None
                ) -> tuple[Scores, dict]:
    """Scores and their description from a pruned artifact, checked against the model to prune.

    Raises:
        SlimlineError: when the files are missing or were computed for another model.
    """
    directory = Path(directory)
    if not (directory / SCORES_FILE).exists():
        raise SlimlineError(f"{directory} has no {SCORES_FILE}: point at a pruned artifact "
                            "written by this version of slimline, or drop the scores path.")
    from safetensors.torch import load_file

    meta = json.loads((directory / SCORES_META).read_text())
    if meta.get("shape") != asdict(shape):
        raise SlimlineError(f"the scores in {directory} were computed for layers shaped "
                            f"{meta.get('shape')}, not {asdict(shape)}: recompute them.")
    if parent_digest and meta.get("parent_digest") not in (None, parent_digest):
        raise SlimlineError(f"the scores in {directory} belong to parent "
                            f"{meta['parent_digest'][:12]}, not {parent_digest[:12]}: "
                            "recompute them.")
    return load_file(str(directory / SCORES_FILE)), meta
