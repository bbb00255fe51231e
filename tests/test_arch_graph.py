"""Traced receptive fields of whole models: exact supports against autograd, summaries, shape plans."""

import numpy as np
import pytest
import torch
from torch import nn

from pixelwise.arch import (
    Global,
    Spatial,
    Unknown,
    accepted_input_sizes,
    exact_extent,
    gradient_support,
    hull,
    pixel_support,
    plan_shapes,
    receptive_field,
    summarize,
    trace,
)
from pixelwise.arch.graph import support_period
from pixelwise.errors import PixelwiseError
from pixelwise.models import FCN, SEGMENTATION_MODELS, SegmentViT, UNet, valid_input_sizes, valid_output_size

# every pixelwise model in small, odd-sized configurations: (name, constructor, input shape)
MODELS = [
    ("unet-same-odd", lambda: UNet(in_channels=2, depth=2, base_channels=2), (1, 2, 21, 23)),
    ("unet-valid", lambda: UNet(in_channels=1, depth=2, base_channels=2, padding="valid"), (1, 1, 44, 44)),
    ("unet-bilinear", lambda: UNet(in_channels=1, depth=2, base_channels=2, up="bilinear", norm="group"),
     (1, 1, 40, 36)),
    ("fcn-bilinear", lambda: FCN(in_channels=1, depth=2, base_channels=2, hidden=4), (1, 1, 20, 19)),
    ("fcn-dilated-coarse", lambda: FCN(in_channels=1, depth=2, base_channels=2, hidden=4, upsample="none",
                                       dilations=(2, 1), classifier_kernel=3), (1, 1, 41, 40)),
]


def test_the_table_covers_every_segmentation_model():
    classes = {type(make()) for _, make, _ in MODELS} | {SegmentViT}  # the ViT has its own (global) test
    assert classes == set(SEGMENTATION_MODELS.values())


@pytest.mark.parametrize(("name", "make", "shape"), MODELS, ids=[m[0] for m in MODELS])
def test_exact_support_equals_the_gradient_support(name, make, shape):
    model = make()
    graph = trace(model, shape)
    out = graph.nodes[graph.output].out_shape[2:]
    state = graph.output_state
    assert isinstance(state, Spatial)
    for pixel in [tuple(s // 2 for s in out), (0, out[1] - 1)]:  # an interior pixel and a corner
        analytic = pixel_support(graph, pixel)
        empirical = gradient_support(model, shape, pixel)
        assert empirical.any()
        assert (analytic == empirical).all(), name
        for (first, last), (lo, hi) in zip(exact_extent(empirical), hull(state, pixel)):
            assert lo <= first and last <= hi  # the analytic receptive field contains the support


def test_integer_jumps_make_the_analytic_field_exact():
    """FCN without upsampling is a chain with a skip-free graph: the span is the support's extent."""
    model = FCN(in_channels=1, depth=2, base_channels=2, hidden=4, upsample="none", dilations=(2, 1),
                classifier_kernel=3)
    graph = trace(model, (1, 1, 64, 64))
    state = graph.output_state
    # by hand: conv3 d2 (5), conv3 d2 (9), pool (10, jump 2), conv3 x2 (14, 18), pool (20, jump 4), conv3 (28)
    assert [a.size for a in state.axes] == [28, 28] and [a.jump for a in state.axes] == [4, 4]
    pixel = (7, 8)
    support = gradient_support(model, (1, 1, 64, 64), pixel)
    assert exact_extent(support) == tuple((int(lo), int(hi)) for lo, hi in hull(state, pixel))


def test_unet_receptive_field_by_hand():
    """Same-padding U-Net, depth 2: 3x3 convs add 2 J each, pools J, transposed convs J / 2 (the hull)."""
    state = receptive_field(UNet(in_channels=1, depth=2, base_channels=2), (1, 1, 64, 64))
    # encoder 5, pool 6 (J 2), 14, pool 16 (J 4), bottom 32; up +2 = 34 (J 2), convs 42; up +1 = 43, convs 47
    assert [a.size for a in state.axes] == [47, 47] and all(a.jump == 1 for a in state.axes)


def test_unet_exact_extent_depends_on_the_phase_and_stays_inside_the_hull():
    model = UNet(in_channels=1, depth=2, base_channels=2)
    graph = trace(model, (1, 1, 64, 64))
    assert support_period(graph) == 4
    sizes, offsets = set(), set()
    for k in range(4):
        (first, last), _ = exact_extent(pixel_support(graph, (30 + k, 30 + k)))
        sizes.add(last - first + 1)
        offsets.add(first - k)
    # a 2x2 stride-2 transposed convolution reads one input per output, so it adds nothing to one pixel's
    # field: 47 minus the hull's J/2 per up-sampling (2 + 1) = 44; only the position moves with the phase
    assert sizes == {44}
    assert len(offsets) > 1


def test_vit_has_a_global_receptive_field():
    model = SegmentViT(in_channels=1, image_size=16, patch_size=4, dim=8, depth=1, heads=2)
    shape = (1, 1, 15, 14)  # padded to the patch grid inside the model
    graph = trace(model, shape)
    assert isinstance(graph.output_state, Global)
    assert "self_attn" in graph.output_state.via
    empirical = gradient_support(model, shape, (3, 5))
    assert empirical.all()  # every input pixel reaches a corner output pixel
    assert pixel_support(graph, (3, 5)).all()


class Rolled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return torch.roll(self.conv(x), 1, dims=-1)


class LinearOnImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize(("module", "name"), [(Rolled(), "roll"), (LinearOnImage(), "fc")])
def test_unknown_layers_are_reported_by_name(module, name):
    graph = trace(module, (1, 1, 8, 8))
    state = graph.output_state
    assert isinstance(state, Unknown) and any(name in n for n in state.names)
    assert [n.name for n in graph.unknown] and any(name in n.name for n in graph.unknown)
    assert summarize(module, (1, 1, 8, 8)).output_rf == "?"
    with pytest.raises(PixelwiseError, match=name):
        pixel_support(graph, (2, 2))


class Twice(nn.Module):
    """One convolution applied twice: its parameters must be counted once."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(self.conv(x)))


def test_summary_counts_shared_parameters_once():
    s = summarize(Twice(), (1, 2, 9, 9))
    convs = [r for r in s.rows if r.kind == "conv"]
    assert [r.params for r in convs] == [2 * 2 * 9 + 2, 0]
    assert [r.shared for r in convs] == [False, True]
    assert s.total_params == 38
    assert [r.macs for r in convs] == [2 * 81 * 2 * 9] * 2  # output elements x C_in x K^2, per use
    assert [r.rf for r in convs] == ["3", "5"]


@pytest.mark.parametrize("make", [lambda: UNet(depth=2, base_channels=4),
                                  lambda: SegmentViT(image_size=32, patch_size=8, dim=16, depth=1, heads=2),
                                  lambda: FCN(depth=2, base_channels=4, hidden=8)])
def test_summary_totals_match_the_model(make):
    model = make()
    s = summarize(model, (1, 3, 32, 32))
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in s.rows) == s.total_params
    conv_macs = sum(r.macs for r in s.rows if r.kind == "conv")
    calls = []  # recount the convolutions' multiply-adds from a real forward pass
    hooks = [m.register_forward_hook(lambda mod, i, o: calls.append((mod, o.numel())))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    by_hand = sum(n * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] for m, n in calls)
    assert conv_macs == by_hand > 0


def test_plan_shapes_match_a_real_forward_pass():
    model = UNet(in_channels=1, depth=2, base_channels=2, padding="valid").eval()
    plan = plan_shapes(model, (1, 1, 44, 44))
    seen = []
    hooks = [m.register_forward_hook(lambda mod, i, o: seen.append(tuple(o.shape)))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        y = model(torch.zeros(1, 1, 44, 44))
    for h in hooks:
        h.remove()
    assert [s for _, kind, s in plan if kind in ("conv", "tconv")] == seen
    assert plan[-1][2] == tuple(y.shape) == (1, 1, valid_output_size(44, 2), valid_output_size(44, 2))


def test_the_valid_unet_takes_572_and_gives_388():
    plan = plan_shapes(UNet(depth=4, base_channels=2, padding="valid"), (1, 3, 572, 572))
    assert plan[-1][2] == (1, 1, 388, 388)


def test_accepted_sizes_agree_with_the_unet_rule():
    model = UNet(in_channels=1, depth=2, base_channels=2, padding="valid")
    found = accepted_input_sizes(model, range(1, 70), channels=1)
    assert sorted(found) == valid_input_sizes(2, 69) == [44, 48, 52, 56, 60, 64, 68]
    assert found[44][-1] == valid_output_size(44, 2)


@pytest.mark.parametrize(("shape", "fragment"), [((1, 3), "N, C"), ((1, 3, 0, 4), "positive"),
                                                 ((1, 3, 50, 50), "does not accept")])
def test_trace_bad_input(shape, fragment):
    with pytest.raises(PixelwiseError, match=fragment):
        trace(UNet(depth=2, base_channels=2, padding="valid"), shape)


def test_pixel_outside_the_output_is_an_error():
    graph = trace(nn.Conv2d(1, 1, 3), (1, 1, 5, 5))
    with pytest.raises(PixelwiseError, match="outside"):
        pixel_support(graph, (3, 0))


def test_padding_modes_fold_back_at_the_border():
    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")
    graph = trace(conv, (1, 1, 6, 6))
    support = pixel_support(graph, (0, 0))
    assert (support == gradient_support(conv, (1, 1, 6, 6), (0, 0))).all()
    assert np.argwhere(support).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]  # reflected taps land inside


def test_graph_module_still_exports_every_name_from_its_new_home():
    """``pixelwise.arch.graph`` gathers the split modules: each of its names is the object the package exports."""
    import pixelwise.arch
    import pixelwise.arch.graph as graph

    for name in graph.__all__:
        assert getattr(graph, name) is not None, name
        if name in pixelwise.arch.__all__:
            assert getattr(pixelwise.arch, name) is getattr(graph, name), name
