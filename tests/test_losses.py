import math

import pytest
import torch

from pixelwise.losses import (
    BCEDiceLoss,
    CEDiceLoss,
    bce_loss,
    cross_entropy_loss,
    dice_loss,
    multiclass_dice_loss,
)

LOGITS = torch.tensor([[[[0.0, math.log(3.0)]]]])  # p = sigmoid = [0.5, 0.75]
TARGET = torch.tensor([[[[1.0, 0.0]]]])


def test_bce_by_hand():
    # -(log 0.5 + log 0.25) / 2
    assert bce_loss(LOGITS, TARGET).item() == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-6)


def test_dice_by_hand():
    # 1 - 2 * 0.5 / (1 + 0.5 + 0.75)
    assert dice_loss(LOGITS, TARGET, eps=1e-9).item() == pytest.approx(1 - 1 / 2.25, rel=1e-6)


def test_dice_is_per_image_then_averaged():
    logits = torch.cat([LOGITS, torch.full_like(LOGITS, 20.0)])  # second image: p ~ 1, y = [1, 1]
    target = torch.cat([TARGET, torch.ones_like(TARGET)])
    expected = ((1 - 1 / 2.25) + (1 - 2 * 2 / 4)) / 2
    assert dice_loss(logits, target, eps=1e-9).item() == pytest.approx(expected, abs=1e-6)


def test_combined_loss_and_lambda_zero():
    bce = (math.log(2) + math.log(4)) / 2
    assert BCEDiceLoss(0.5, eps=1e-9)(LOGITS, TARGET).item() == pytest.approx(bce + 0.5 * (1 - 1 / 2.25), rel=1e-6)
    assert BCEDiceLoss(0.0)(LOGITS, TARGET).item() == pytest.approx(bce, rel=1e-6)


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_combined_loss_rejects_negative_lambda(bad):
    with pytest.raises(ValueError, match="lambda_dice"):
        BCEDiceLoss(bad)
    with pytest.raises(ValueError, match="lambda_dice"):
        CEDiceLoss(bad)


def test_dice_rejects_non_positive_eps():
    with pytest.raises(ValueError, match="eps"):
        dice_loss(LOGITS, TARGET, eps=0)


def test_losses_are_finite_for_extreme_logits():
    logits = torch.tensor([[[[-1e4, 1e4]]]], requires_grad=True)
    target = torch.tensor([[[[1.0, 0.0]]]])
    loss = BCEDiceLoss(1.0)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert loss.item() == pytest.approx(1e4 + 1.0, rel=1e-4)  # BCE ~ (1e4 + 1e4) / 2, Dice loss ~ 1


def test_empty_truth_and_prediction_gives_finite_dice():
    assert dice_loss(torch.full((1, 1, 3, 3), -30.0), torch.zeros(1, 1, 3, 3)).item() == pytest.approx(1.0, abs=1e-3)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        bce_loss(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 5))


def test_against_monai():
    monai_losses = pytest.importorskip("monai.losses")
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 9, 7, generator=g)
    target = (torch.rand(3, 1, 9, 7, generator=g) > 0.6).float()
    ref = monai_losses.DiceLoss(sigmoid=True, smooth_nr=0.0, smooth_dr=1e-6)(logits, target)
    torch.testing.assert_close(dice_loss(logits, target, eps=1e-6), ref)
    k_logits = torch.randn(2, 4, 5, 6, generator=g)
    labels = torch.randint(0, 4, (2, 5, 6), generator=g)
    monai_dice = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=0.0, smooth_dr=1e-6)
    ref = monai_dice(k_logits, labels[:, None])
    torch.testing.assert_close(multiclass_dice_loss(k_logits, labels, eps=1e-6), ref)


def test_cross_entropy_by_hand():
    logits = torch.tensor([[[[2.0]], [[0.0]], [[0.0]]]])  # (1, 3, 1, 1)
    labels = torch.tensor([[[0]]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert cross_entropy_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
