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
