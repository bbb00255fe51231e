"""Output sizes and chain receptive fields: hand-computed tables, checked against real forward passes."""

from fractions import Fraction

import pytest
import torch
from torch import nn

from pixelwise.arch import (
    chain_output_sizes,
    chain_receptive_fields,
    chain_to_module,
    chain_valid_input_sizes,
    conv_output_size,
    conv_transpose_output_size,
    exact_extent,
    gradient_support,
    make_layer,
    parse_layers,
    pixel_support,
    pool_output_size,
    trace,
)
from pixelwise.errors import PixelwiseError

# (size, kernel, stride, padding, dilation) -> output size, by hand: floor((n + 2p - d(k-1) - 1)/s) + 1
CONV_SIZES = [
    ((7, 3, 1, 0, 1), 5),
    ((7, 3, 2, 1, 1), 4),
    ((10, 3, 1, 0, 2), 6),
    ((5, 5, 1, 0, 1), 1),
    ((6, 4, 3, 1, 1), 2),
    ((11, 3, 2, 0, 3), 3),
    ((572, 3, 1, 0, 1), 570),
]


@pytest.mark.parametrize(("args", "expected"), CONV_SIZES)
def test_conv_output_size_by_hand_and_torch(args, expected):
    n, k, s, p, d = args
    assert conv_output_size(n, k, s, p, d) == expected
    conv = nn.Conv1d(1, 1, k, s, p, d).to("meta")
    assert conv(torch.zeros(1, 1, n, device="meta")).shape[-1] == expected


# (size, kernel, stride, padding, dilation, ceil_mode) -> output size
POOL_SIZES = [
    ((7, 2, None, 0, 1, False), 3),
    ((7, 2, None, 0, 1, True), 4),
    ((5, 3, 2, 1, 1, True), 3),
    ((5, 3, 3, 1, 1, True), 2),  # ceil gives 3, but the third window would start in the right padding
    ((9, 3, 2, 1, 2, False), 4),
]


@pytest.mark.parametrize(("args", "expected"), POOL_SIZES)
def test_pool_output_size_by_hand_and_torch(args, expected):
    n, k, s, p, d, ceil = args
    assert pool_output_size(n, k, s, p, d, ceil) == expected
    pool = nn.MaxPool1d(k, s, p, d, ceil_mode=ceil)
    assert pool(torch.zeros(1, 1, n)).shape[-1] == expected


# (size, kernel, stride, padding, dilation, output_padding) -> (n - 1) s - 2p + d(k - 1) + op + 1
TCONV_SIZES = [
    ((3, 3, 2, 1, 1, 0), 5),
    ((3, 3, 2, 1, 1, 1), 6),
    ((4, 2, 2, 0, 1, 0), 8),
    ((5, 3, 1, 0, 2, 0), 9),
    ((2, 3, 1, 0, 1, 0), 4),
    ((7, 4, 3, 2, 1, 2), 20),
]


@pytest.mark.parametrize(("args", "expected"), TCONV_SIZES)
def test_conv_transpose_output_size_by_hand_and_torch(args, expected):
    n, k, s, p, d, op = args
    assert conv_transpose_output_size(n, k, s, p, d, op) == expected
    tconv = nn.ConvTranspose1d(1, 1, k, s, p, op, dilation=d).to("meta")
    assert tconv(torch.zeros(1, 1, n, device="meta")).shape[-1] == expected


@pytest.mark.parametrize(("fn", "args", "fragment"), [
    (conv_output_size, (2, 5), "at least 5"),
    (conv_output_size, (8, 3, 0), "stride=0"),
    (conv_output_size, (8, 3, 1, -1), "padding=-1"),
    (conv_output_size, (8, 0), "kernel=0"),
    (pool_output_size, (8, 2, 2, 2), "half the kernel"),
    (conv_transpose_output_size, (4, 3, 2, 0, 1, 2), "output_padding=2"),
    (conv_transpose_output_size, (1, 1, 1, 1), "no output"),
])
def test_output_size_bad_input(fn, args, fragment):
    with pytest.raises(PixelwiseError, match=fragment):
        fn(*args)


# layer string -> (RF, jump, left) per layer along the first axis, by hand with Araujo et al.'s recurrence
CHAINS = [
    ("conv k=5 s=2; conv k=3; conv k=5 d=2", [(5, 2, 0), (9, 2, 0), (25, 2, 0)]),  # the example
    ("conv k=3; conv k=3; pool k=2; conv k=3", [(3, 1, 0), (5, 1, 0), (6, 2, 0), (10, 2, 0)]),
    ("conv k=7 s=2 p=3; pool k=3 s=2 p=1", [(7, 2, -3), (11, 4, -5)]),  # ResNet stem: centred on pixel 0
    ("conv k=3 p=1; conv k=3 d=2 p=2; conv k=3 d=4 p=4", [(3, 1, -1), (7, 1, -3), (15, 1, -7)]),
    ("conv k=2 s=2; tconv k=2 s=2", [(2, 2, 0), (3, Fraction(1), -1)]),  # tconv: the hull over both phases
    ("pool k=4 s=2; conv k=1", [(4, 2, 0), (4, 2, 0)]),
]


@pytest.mark.parametrize(("text", "expected"), CHAINS)
def test_chain_receptive_fields_by_hand(text, expected):
    rows = chain_receptive_fields(parse_layers(text))
    got = [(r.rf[0].size, r.rf[0].jump, r.rf[0].left) for r in rows]
    assert got == [tuple(Fraction(v) for v in e) for e in expected]


def test_worked_example_centre_offsets():
    rows = chain_receptive_fields(parse_layers("conv k=5 s=2; conv k=3; conv k=5 d=2"))
    assert [r.rf[0].centre for r in rows] == [2, 4, 12]  # (RF - 1) / 2 with no padding


def test_2d_chain_has_one_receptive_field_per_axis():
    rows = chain_receptive_fields(parse_layers("conv k=3x5; conv k=3x1 d=2"))
    assert [(a.size, a.jump) for a in rows[-1].rf] == [(7, 1), (5, 1)]


@pytest.mark.parametrize("text", [text for text, _ in CHAINS])
@pytest.mark.parametrize("size", [31, 40])
def test_chain_output_sizes_match_a_real_forward_pass(text, size):
    layers = parse_layers(text)
    net = chain_to_module(layers).to("meta")
    x = torch.zeros(1, 1, size, device="meta")
    for layer_out, module in zip(chain_output_sizes(layers, size), net):
        x = module(x)
        assert layer_out == (x.shape[-1],)


@pytest.mark.parametrize("text", [text for text, _ in CHAINS if "tconv" not in text])
def test_chain_receptive_field_is_the_gradient_support(text):
    """Integer jumps: the analytic span of an interior output equals the gradient support's extent."""
    layers = parse_layers(text)
    net = chain_to_module(layers)
    n = 61
    out_len = chain_output_sizes(layers, n)[-1][0]
    o = out_len // 2
    support = gradient_support(net, (1, 1, n), (o,))
    rf = chain_receptive_fields(layers)[-1].rf[0]
    lo, hi = rf.span(o)
    assert exact_extent(support) == ((int(lo), int(hi)),)
    assert (pixel_support(trace(net, (1, 1, n)), (o,)) == support).all()


def test_dilated_gaps_are_in_both_supports():
    layers = parse_layers("conv k=3 d=3")
    net = chain_to_module(layers)
    support = gradient_support(net, (1, 1, 15), (5,))
    assert support.nonzero()[0].tolist() == [5, 8, 11]  # RF 7 but only three taps
    assert (pixel_support(trace(net, (1, 1, 15)), (5,)) == support).all()


def test_transposed_chain_support_lies_inside_the_hull_and_phases_differ():
    layers = parse_layers("conv k=3 s=2; tconv k=3 s=2")
    net = chain_to_module(layers)
    graph = trace(net, (1, 1, 41))
    rf = graph.output_state.axes[0]
    extents = []
    for o in (18, 19):  # the two phases of the stride-2 transposed convolution
        support = gradient_support(net, (1, 1, 41), (o,))
        assert (pixel_support(graph, (o,)) == support).all()
        (first, last), = exact_extent(support)
        lo, hi = rf.span(o)
        assert lo <= first and last <= hi
        extents.append(last - first + 1)
    # o = 2 i + t: even outputs take taps 0 and 2 (two inputs: 3 + 2 = 5 pixels), odd ones tap 1 (3 pixels)
    assert extents == [5, 3]
    assert rf.size == 3 + Fraction(2)  # the hull bound: (K - 1) D J / S = 2


def test_valid_input_sizes_of_a_chain_match_forward_passes():
    layers = parse_layers("conv k=3; conv k=3; pool k=2; conv k=3")
    valid = chain_valid_input_sizes(layers, 30)
    net = chain_to_module(layers).to("meta")
    accepted = []
    for n in range(1, 31):
        try:
            net(torch.zeros(1, 1, n, device="meta"))
            accepted.append(n)
        except RuntimeError:
            pass
    assert valid == accepted == list(range(10, 31))
    assert chain_valid_input_sizes(layers, 20, exact=True) == [10, 12, 14, 16, 18, 20]  # the pool needs even


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("conv", "no kernel"),
    ("conv k=3;;conv k=3", "layer 2 is empty"),
    ("cnv k=3", "'cnv'"),
    ("conv k=a", "'k=a'"),
    ("conv k=3 z=1", "'z=1'"),
    ("conv k=3 s", "'s'"),
    ("conv k=3x3x3", "'k=3x3x3'"),
    ("pool k=3 op=1", "only applies to tconv"),
    ("conv k=3 k=5", "'k=5'"),
    ("tconv k=2 s=2 op=2", "output_padding=2"),
    ("conv k=0", "kernel"),
    ("conv k=3; conv k=3 p=-1", "layer 2"),
])
def test_malformed_layer_strings_name_the_bad_token(text, fragment):
    with pytest.raises(PixelwiseError, match=fragment.replace("(", r"\(")):
        parse_layers(text)


def test_make_layer_broadcasts_and_checks_axes():
    layer = make_layer("pool", 2, ndim=2)
    assert layer.stride == (2, 2) and layer.kernel == (2, 2)
    with pytest.raises(PixelwiseError, match="2D"):
        make_layer("conv", (3, 3, 3), ndim=2)
