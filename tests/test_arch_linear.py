"""Convolution as a matrix, the readable transposed convolution, patchwise MLPs, the effective RF plot."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.arch import PatchMLP, conv_matrix, effective_receptive_field, pixel_support, trace
from pixelwise.arch import transposed_conv_reference as tconv_ref
from pixelwise.errors import PixelwiseError

# (C_in, C_out, kernel, stride, padding, dilation, groups, H, W): odd sizes, strides, dilation, groups
CONVS = [
    (1, 1, 3, 1, 0, 1, 1, 4, 4),
    (2, 3, 3, 2, 1, 1, 1, 6, 5),  # output_padding (1, 0) needed to get back to 6 x 5
    (1, 2, (2, 3), 1, 0, 2, 1, 7, 6),
    (2, 2, 3, 2, 2, 2, 2, 8, 9),
    (3, 1, 1, 3, 0, 1, 1, 7, 5),
    (1, 1, 3, 1, "same", 2, 1, 5, 6),
]


def _conv(cin, cout, k, s, p, d, g):
    torch.manual_seed(0)
    return nn.Conv2d(cin, cout, k, s, p, d, groups=g, bias=False).double()


@pytest.mark.parametrize("cfg", CONVS)
def test_conv_matrix_applies_the_convolution_and_its_transpose(cfg):
    cin, cout, k, s, p, d, g, h, w = cfg
    conv = _conv(cin, cout, k, s, p, d, g)
    m = conv_matrix(conv, (cin, h, w))
    x = torch.randn(cin, h, w, dtype=torch.float64)
    y = conv(x[None])[0]
    assert m.shape == (y.numel(), x.numel())
    torch.testing.assert_close(m @ x.reshape(-1), y.reshape(-1))
    if p == "same":
        return
    # the adjoint is the transposed convolution with the output_padding that restores H x W
    op = tuple(n - ((o - 1) * st - 2 * pd + dl * (kk - 1) + 1)
               for n, o, st, pd, dl, kk in zip((h, w), y.shape[1:], conv.stride, conv.padding, conv.dilation,
                                               conv.kernel_size))
    assert all(0 <= v < max(conv.stride + conv.dilation) for v in op)
    v = torch.randn_like(y)
    xt = F.conv_transpose2d(v[None], conv.weight, None, conv.stride, conv.padding, op, g, conv.dilation)[0]
    torch.testing.assert_close(m.T @ v.reshape(-1), xt.reshape(-1))


def test_conv_matrix_columns_are_impulse_responses():
    conv = _conv(2, 2, 3, 2, 1, 1, 1)
    m = conv_matrix(conv, (2, 5, 5))
    for j in (0, 7, 31, 49):
        e = torch.zeros(50, dtype=torch.float64)
        e[j] = 1
        torch.testing.assert_close(m[:, j], conv(e.reshape(1, 2, 5, 5)).reshape(-1))


def test_conv_matrix_worked_rows():
    conv = nn.Conv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 2, 3], [2, 3, 4], [3, 4, 5]]))
    m = conv_matrix(conv, (4, 4))
    assert m[0].tolist() == [1, 2, 3, 0, 2, 3, 4, 0, 3, 4, 5, 0, 0, 0, 0, 0]
    assert m[3].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 0, 2, 3, 4, 0, 3, 4, 5]


@pytest.mark.parametrize(("layer", "shape", "fragment"), [
    (nn.Conv2d(2, 1, 3), (3, 4, 4), "C = 2"),
    (nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), (4, 4), "padding_mode"),
    (nn.Conv1d(1, 1, 3), (4, 4), "nn.Conv2d"),
    (nn.Conv2d(1, 1, 5), (3, 3), "at least"),
    (nn.Conv2d(64, 64, 3, padding=1), (64, 64, 64), "small inputs"),
])
def test_conv_matrix_bad_input(layer, shape, fragment):
    with pytest.raises(PixelwiseError, match=fragment):
        conv_matrix(layer, shape)


def test_reference_transposed_convolution_worked_example():
    kernel = torch.tensor([[1.0, 2, 3], [2, 3, 4], [3, 4, 5]])
    x = torch.tensor([[1.0, 2], [0, 1]])
    expected = [[1, 4, 7, 6], [2, 8, 12, 11], [3, 12, 16, 14], [0, 3, 4, 5]]
    assert tconv_ref(x, kernel).tolist() == expected


# (C_in, C_out, K, stride, padding, dilation, output_padding, H, W)
TCONVS = [(1, 1, 3, 1, 0, 1, 0, 2, 2), (2, 3, 3, 2, 1, 1, 1, 4, 5), (1, 2, 2, 2, 0, 1, 0, 3, 3),
          (2, 1, 3, 3, 2, 2, 2, 5, 4), (3, 2, 4, 2, 1, 1, 0, 1, 1)]


@pytest.mark.parametrize("cfg", TCONVS)
def test_reference_transposed_convolution_matches_torch(cfg):
    cin, cout, k, s, p, d, op, h, w = cfg
    torch.manual_seed(1)
    layer = nn.ConvTranspose2d(cin, cout, k, s, p, op, dilation=d, bias=False).double()
    x = torch.randn(cin, h, w, dtype=torch.float64)
    torch.testing.assert_close(tconv_ref(x, layer.weight.detach(), s, p, d, op), layer(x[None])[0])


def test_reference_transposed_convolution_bad_input():
    with pytest.raises(PixelwiseError, match="C_in"):
        tconv_ref(torch.zeros(2, 3, 3), torch.zeros(3, 1, 2, 2))
    with pytest.raises(PixelwiseError, match="output_padding"):
        tconv_ref(torch.zeros(3, 3), torch.zeros(2, 2), stride=2, output_padding=2)


# (k, hidden sizes, out channels, activation, in channels, H, W)
MLPS = [(3, [5, 4], 2, "relu", 2, 7, 9), (4, [6], 1, "tanh", 1, 8, 5), (1, [], 3, "identity", 3, 5, 5),
        (5, [3, 3, 3], 2, "gelu", 1, 5, 11)]


@pytest.mark.parametrize("cfg", MLPS)
def test_patch_mlp_equals_its_convnet_and_back(cfg):
    k, hidden, out, act, cin, h, w = cfg
    torch.manual_seed(2)
    mlp = PatchMLP(k, hidden, out, act, cin)
    x = torch.randn(2, cin, h, w)
    y = mlp(x)
    assert y.shape == (2, out, h - k + 1, w - k + 1)
    net = mlp.to_conv()
    assert isinstance(net[0], nn.Conv2d) and net[0].kernel_size == (k, k)
    assert all(m.kernel_size == (1, 1) for m in list(net)[1:] if isinstance(m, nn.Conv2d))
    torch.testing.assert_close(net(x), y, atol=1e-5, rtol=1e-5)
    back = PatchMLP.from_conv(net)
    torch.testing.assert_close(back(x), y, atol=1e-5, rtol=1e-5)


def test_patch_mlp_vectorisation_order_is_channel_row_column():
    torch.manual_seed(3)
    mlp = PatchMLP(3, [4], 1, "relu", in_channels=2)
    x = torch.randn(1, 2, 6, 7)
    i, j = 2, 3
    patch = x[0, :, i:i + 3, j:j + 3].reshape(-1)  # channel slowest, then row, then column
    by_hand = mlp.layers[1](torch.relu(mlp.layers[0](patch)))
    torch.testing.assert_close(mlp(x)[0, :, i, j], by_hand)


def test_patch_mlp_convnet_receptive_field_is_the_patch():
    net = PatchMLP(4, [3], 1, "relu").to_conv()
    support = pixel_support(trace(net, (1, 1, 9, 9)), (2, 3))
    assert support.nonzero()[0].min() == 2 and support.sum() == 16  # one 4 x 4 patch at (2, 3)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    (dict(k=0, hidden_sizes=[2], out_channels=1), "positive"),
    (dict(k=3, hidden_sizes=[0], out_channels=1), "positive"),
    (dict(k=3, hidden_sizes=[2], out_channels=1, activation="swish"), "activation"),
])
def test_patch_mlp_bad_hyperparameters(kwargs, fragment):
    with pytest.raises(PixelwiseError, match=fragment):
        PatchMLP(**kwargs)


@pytest.mark.parametrize(("net", "fragment"), [
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 1, 1)), "no padding"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 1, 3)), "1 x 1"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 1), nn.Tanh(), nn.Conv2d(2, 1, 1)),
     "one kind"),
    (nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 3)), "starts and ends"),
])
def test_patch_mlp_from_conv_rejects_other_networks(net, fragment):
    with pytest.raises(PixelwiseError, match=fragment):
        PatchMLP.from_conv(net)


def test_patch_mlp_rejects_small_inputs():
    with pytest.raises(PixelwiseError, match="sides"):
        PatchMLP(5, [2], 1)(torch.zeros(1, 1, 4, 9))


def test_effective_receptive_field_lives_inside_the_theoretical_one(tmp_path):
    from pixelwise.report.arch import erf_radius, plot_effective_receptive_field

    torch.manual_seed(4)
    net = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(2, 2, 3, padding=1), nn.ReLU())])
    net[0] = nn.Conv2d(1, 2, 3, padding=1)
    shape = (1, 1, 21, 21)
    erf = effective_receptive_field(net, shape, n_samples=3, generator=torch.Generator().manual_seed(0))
    support = pixel_support(trace(net, shape), (10, 10))
    assert erf.max() == 1.0 and (erf[~support] == 0).all() and support.sum() == 81
    assert erf_radius(erf, 0.95) <= 4 * 2 ** 0.5 + 1e-9  # the mass sits within the 9 x 9 field
    path = plot_effective_receptive_field(net, shape, tmp_path / "erf.png", n_samples=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
