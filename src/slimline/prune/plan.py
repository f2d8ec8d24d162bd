"""Check a pruning plan against the architecture before any weight is touched."""

from __future__ import annotations

from dataclasses import dataclass

from slimline.errors import SlimlineError
from slimline.prune.structure import Shape


@dataclass(frozen=True)
class Plan:
    """Target widths, the same for every layer so config.json describes each one exactly."""

    before: Shape
    after: Shape

    @property
    def prunes_attention(self) -> bool:
        return (self.after.num_attention_heads, self.after.num_key_value_heads) != (
            self.before.num_attention_heads, self.before.num_key_value_heads)


def _check_ratio(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise SlimlineError(f"prune.{name}={value} is out of range: use 0 <= {name} < 1.")


def make_plan(shape: Shape, hidden_size: int, *, channel_ratio: float, head_ratio: float,
              kv_group_ratio: float, round_to: int) -> Plan:
    """Widths after pruning, or a SlimlineError naming the setting that cannot work.

    Args:
        shape: the widths of the unpruned layers.
        hidden_size: the model's hidden size (transformers 5 refuses Llama head counts that
            do not divide it).
        channel_ratio: share of MLP channels to remove.
        head_ratio: share of query heads to remove inside every key/value group.
        kv_group_ratio: share of whole key/value groups (with their query heads) to remove.
        round_to: every pruned width is a multiple of this (the quantization group size).
    """
    for name, value in (("channel_ratio", channel_ratio), ("head_ratio", head_ratio),
                        ("kv_group_ratio", kv_group_ratio)):
        _check_ratio(name, value)
    if round_to < 1:
        raise SlimlineError(f"prune.round_to={round_to} must be a positive width.")
    inter = round(shape.intermediate_size * (1 - channel_ratio) / round_to) * round_to
    if channel_ratio > 0 and not 0 < inter <= shape.intermediate_size:
        raise SlimlineError(
            f"prune.channel_ratio={channel_ratio} with prune.round_to={round_to} leaves "
            f"{inter} of {shape.intermediate_size} MLP channels: lower prune.round_to or "
            "change the ratio.")
    if channel_ratio > 0 and inter == shape.intermediate_size:
        raise SlimlineError(
            f"prune.channel_ratio={channel_ratio} rounds to no pruning at all with "
            f"prune.round_to={round_to} ({shape.intermediate_size} channels): raise the ratio "
            "or lower prune.round_to.")
    if channel_ratio == 0:
        inter = shape.intermediate_size
    elif inter % round_to:
        raise SlimlineError(f"MLP width {inter} is not a multiple of prune.round_to={round_to}.")
    groups = shape.num_key_value_heads - round(shape.num_key_value_heads * kv_group_ratio)
    per_group = shape.heads_per_group - round(shape.heads_per_group * head_ratio)
    if groups < 1 or per_group < 1:
        raise SlimlineError(
            f"prune.head_ratio={head_ratio} / prune.kv_group_ratio={kv_group_ratio} would "
            f"remove every head of a layer ({shape.num_key_value_heads} kv groups of "
            f"{shape.heads_per_group} query heads): lower them.")
    heads = groups * per_group
    if heads != shape.num_attention_heads:
        if hidden_size % heads:
            raise SlimlineError(
                f"pruning to {heads} attention heads: transformers requires the head count to "
                f"divide hidden_size={hidden_size}. Choose prune.head_ratio/kv_group_ratio so "
                "it does.")
        width = heads * shape.head_dim
        if width % round_to:
            raise SlimlineError(
                f"pruning to {heads} heads of {shape.head_dim} leaves o_proj {width} wide, not a "
                f"multiple of prune.round_to={round_to} (the quantization group size): prune "
                "fewer heads or lower prune.round_to.")
    return Plan(shape, Shape(inter, heads, groups, shape.head_dim))


def rounding_notices(plan: Plan, *, channel_ratio: float, head_ratio: float = 0.0,
                     kv_group_ratio: float = 0.0, round_to: int) -> list[str]:
    """One line for each requested share the plan cannot meet exactly (widths are rounded)."""
    before, after = plan.before, plan.after
    notices = []
    removed = before.intermediate_size - after.intermediate_size
    if channel_ratio and abs(removed / before.intermediate_size - channel_ratio) > 1e-9:
        notices.append(
            f"prune.channel_ratio={channel_ratio} removes {removed} of "
            f"{before.intermediate_size} MLP channels ({removed / before.intermediate_size:.1%}): "
            f"widths are rounded to multiples of prune.round_to={round_to}.")
    shares = (("kv_group_ratio", kv_group_ratio, after.num_key_value_heads,
               before.num_key_value_heads, "kv groups"),
              ("head_ratio", head_ratio, after.heads_per_group, before.heads_per_group,
               "query heads per kv group"))
    for name, asked, kept, total, what in shares:
        if asked and abs((total - kept) / total - asked) > 1e-9:
            notices.append(f"prune.{name}={asked} removes {total - kept} of {total} {what} "
                           f"({(total - kept) / total:.1%}): head counts are whole numbers.")
    return notices
