import pytest
import torch

from pixelwise.models import (
    FCN,
    SegmentViT,
    UNet,
    valid_input_for_output,
    valid_input_sizes,
    valid_output_size,
)


@pytest.mark.parametrize("size,depth,expected", [(572, 4, 388), (188, 4, 4), (44, 2, 4), (60, 2, 20), (140, 3, 52)])
def test_valid_output_size_by_hand(size, depth, expected):
    # 572 -> 388 is Fig. 1 of Ronneberger et al.; the others worked by hand: s -> s-4 -> /2 ... -> 2s-4
    assert valid_output_size(size, depth) == expected


def test_valid_output_matches_forward():
    for size in valid_input_sizes(depth=2, max_size=70):
        net = UNet(1, 1, depth=2, base_channels=2, padding="valid")
        out = net(torch.zeros(1, 1, size, size + 16))
        assert out.shape[-2:] == (valid_output_size(size, 2), valid_output_size(size + 16, 2))


@pytest.mark.parametrize("size", [570, 571, 30, 3])
def test_valid_padding_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="valid"):
        valid_output_size(size, 4)
    with pytest.raises(ValueError, match="valid"):
        UNet(1, 1, depth=4, base_channels=1, padding="valid")(torch.zeros(1, 1, size, 188))


def test_valid_sizes_are_spaced_by_two_to_the_depth():
    sizes = valid_input_sizes(4, 600)
    assert sizes[0] == 188 and 572 in sizes
    assert all(b - a == 16 for a, b in zip(sizes, sizes[1:]))
    assert valid_input_for_output(256, 4) == (444, 260)


def test_fcn_is_a_classifier_on_its_training_size_and_dense_on_larger_inputs():
    # LeNet-like: 28 -> 26 -> 24 -> pool 12 -> 10 -> 8 -> pool 4 -> 4x4 "fully connected" conv -> 1
    net = FCN(1, 10, base_channels=4, depth=2, classifier_kernel=4, upsample="none", padding="valid").eval()
    big = torch.randn(1, 1, 28, 60)
    with torch.no_grad():
        dense = net(big)
        # 60 -> 58 -> 56 -> 28 -> 26 -> 24 -> 12 -> 9 predictions, one every 4 pixels (the product of the strides)
        assert dense.shape == (1, 10, 1, 9)
        for j in range(9):
            one = net(big[..., 4 * j:4 * j + 28])
            assert one.shape == (1, 10, 1, 1)
            torch.testing.assert_close(dense[..., j], one[..., 0])


@pytest.mark.parametrize("kwargs,match", [
    (dict(padding="full"), "padding"), (dict(norm="layer"), "norm"), (dict(up="nearest"), "up"),
    (dict(depth=0), "positive"),
])
def test_unet_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNet(3, 1, **kwargs)


@pytest.mark.parametrize("kwargs,match", [(dict(image_size=30, patch_size=8), "multiple"),
                                          (dict(dim=10, heads=3), "divisible")])
def test_vit_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SegmentViT(3, 1, **kwargs)


def test_vit_position_embedding_interpolates():
    vit = SegmentViT(3, 1, image_size=32, patch_size=8, dim=8, depth=1, heads=2)
    assert vit.position_embedding(4, 4) is vit.pos
    pe = vit.position_embedding(6, 3)
    assert pe.shape == (1, 18, 8)
