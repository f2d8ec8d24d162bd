import pytest
import torch

from slimline.prune.importance import contributions, finish, random_scores, top_k

W = torch.tensor([[2.0, -1.0]])
G = torch.tensor([[1.0, 3.0]])
F = torch.tensor([[4.0, 0.0]])


@pytest.mark.parametrize("estimator, elements, score", [
    ("magnitude", [[4.0, 1.0]], 5.0 ** 0.5),          # L2 norm of the group
    ("taylor_first", [[2.0, 3.0]], 5.0),              # sum |w g|
    ("taylor_vector", [[2.0, -3.0]], 1.0),            # |sum w g|
    ("taylor_second", [[6.0, 3.0]], 9.0),             # sum |w g - w^2 F / 2|
])
def test_estimators_on_known_values(estimator, elements, score):
    c = contributions(estimator, W, G, F)
    assert c.tolist() == elements
    assert finish(estimator, c.sum()).item() == pytest.approx(score)


def test_unknown_estimator():
    with pytest.raises(ValueError, match="unknown estimator"):
        contributions("nope", W)


def test_top_k_keeps_layout_order_and_random_is_seeded():
    assert top_k(torch.tensor([0.1, 5.0, 0.3, 4.0]), 2).tolist() == [1, 3]
    a = random_scores(8, torch.Generator().manual_seed(3))
    b = random_scores(8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_a_fake_estimator_prunes_through_the_registry_alone():
    """Registering is all it takes: compute_scores and prune_layers dispatch on the entry."""
    from slimline.prune import compute_scores, make_plan, model_shape, prune_layers
    from slimline.prune.importance import ESTIMATORS, Estimator, Needs, register

    from .reference_setup import tiny_model

    model = tiny_model("llama")
    down = model.model.layers[0].mlp.down_proj.weight.detach().clone()
    # L1 norm of each group, finished by halving: the order is that of the L1 norms
    fake = register(Estimator("fake_l1", Needs.NOTHING, lambda w, g, f: w.abs(),
                              finish=lambda s: s / 2))
    try:
        plan = make_plan(model_shape(model.config), 64, channel_ratio=0.75, head_ratio=0.0,
                         kv_group_ratio=0.0, round_to=16)
        scores = compute_scores(model, plan, fake.name)
        layer = model.model.layers[0].mlp
        by_hand = (layer.gate_proj.weight.abs().sum(1) + layer.up_proj.weight.abs().sum(1)
                   + down.abs().sum(0)) / 2
        torch.testing.assert_close(scores["layers.0.mlp_channels"], by_hand.detach())
        kept = prune_layers(model, plan, scores)
        assert kept[0]["mlp_channels"] == sorted(by_hand.topk(32).indices.tolist())
        assert model.model.layers[0].mlp.down_proj.weight.shape == (64, 32)
    finally:
        del ESTIMATORS["fake_l1"]


def test_registry_refuses_duplicates_and_half_entries():
    from slimline.prune.importance import Estimator, Needs, register

    with pytest.raises(ValueError, match="already registered"):
        register(Estimator("magnitude", Needs.NOTHING, lambda w, g, f: w))
    with pytest.raises(ValueError, match="exactly one of contribution, draw"):
        register(Estimator("neither", Needs.NOTHING))


def test_what_each_estimator_needs():
    from slimline.prune.importance import NEEDS_CALIBRATION, NEEDS_GRADIENTS

    assert {"taylor_first", "taylor_vector", "taylor_second"} == NEEDS_GRADIENTS
    assert NEEDS_GRADIENTS | {"activation"} == NEEDS_CALIBRATION
