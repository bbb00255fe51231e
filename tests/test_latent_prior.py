"""The VQ-VAE's code prior: masks by hand, causality of the masked convolutions and of the whole gated
PixelCNN by autograd (and no blind spot), shapes, save/load, sampling (determinism by seed, and agreement
with the model's own probabilities), and learning a tiny deterministic code pattern."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from latent_runs import AdamSteps

from pixelwise.errors import PixelwiseError
from pixelwise.models.pixelcnn import MaskedConv2d, PixelCNNPrior, causal_mask
from pixelwise.tasks.latent.prior import PriorConfig, nll_per_code, nll_per_map, train_prior, unigram_nll

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


@pytest.mark.parametrize("kernel,mask_type,expected", [
    ((3, 3), "A", [[1, 1, 1], [1, 0, 0], [0, 0, 0]]),
    ((3, 3), "B", [[1, 1, 1], [1, 1, 0], [0, 0, 0]]),
    ((3, 3), "vertical", [[1, 1, 1], [1, 1, 1], [0, 0, 0]]),
    ((1, 5), "A", [[1, 1, 0, 0, 0]]),
    ((1, 3), "B", [[1, 1, 0]]),
    ((3, 1), "B", [[1], [1], [0]]),
])
def test_masks_by_hand(kernel, mask_type, expected):
    assert causal_mask(kernel, mask_type).tolist() == expected


def _dependence(f, x: torch.Tensor, r: int, c: int) -> set[tuple[int, int]]:
    """The input positions (r', c') whose gradient of f(x)[:, :, r, c].sum() is non-zero."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x)[:, :, r, c].sum(), x)
    nonzero = grad.abs().sum(dim=(0, 1)) > 0  # (H, W)
    return {(int(i), int(j)) for i, j in torch.nonzero(nonzero)}


# mask -> may output (r, c) depend on input (r2, c2)? (within the kernel's reach)
ALLOWED = {
    "A": lambda r, c, r2, c2: r2 < r or (r2 == r and c2 < c),  # strictly before in raster order
    "B": lambda r, c, r2, c2: r2 < r or (r2 == r and c2 <= c),  # before, or the position itself
    "vertical": lambda r, c, r2, c2: r2 <= r,
}


@pytest.mark.parametrize("mask_type", list(ALLOWED))
@pytest.mark.parametrize("kernel", [3, 5, (1, 3), (3, 5)])
def test_masked_conv_causality_by_autograd(mask_type, kernel):
    """Output i has zero gradient w.r.t. inputs at positions >= i (A), > i (B), rows below (vertical), and a
    non-zero gradient at every other position the kernel reaches."""
    torch.manual_seed(0)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    conv = MaskedConv2d(2, 3, kernel, mask_type)
    x = torch.randn(2, 2, 5, 6)
    for r, c in itertools.product(range(5), range(6)):
        expected = {(r2, c2) for r2, c2 in itertools.product(range(5), range(6))
                    if abs(r2 - r) <= kh // 2 and abs(c2 - c) <= kw // 2 and ALLOWED[mask_type](r, c, r2, c2)}
        assert _dependence(conv, x, r, c) == expected, (r, c)


@pytest.mark.parametrize("height,width,layers", [(4, 5, 5), (3, 3, 2), (1, 6, 5), (5, 1, 3)])
def test_prior_is_causal_without_blind_spot(height, width, layers):
    """logits at (r, c) depend on exactly the positions before (r, c) in raster order: none at or after it
    (mask A first, B after) and every one before it (the two stacks leave no blind spot), given enough layers
    for the grid (a plain masked PixelCNN misses the region up and to the right)."""
    torch.manual_seed(0)
    prior = PixelCNNPrior(num_codes=5, channels=6, layers=layers)
    x = torch.randn(2, 6, height, width)
    for r, c in itertools.product(range(height), range(width)):
        before = {(r2, c2) for r2, c2 in itertools.product(range(height), range(width)) if (r2, c2) < (r, c)}
        assert _dependence(prior.logits, x, r, c) == before, (r, c)


@pytest.mark.parametrize("height,width", [(1, 1), (2, 2), (3, 5), (7, 7)])
def test_prior_shapes_and_log_prob(height, width):
    torch.manual_seed(0)
    prior = PixelCNNPrior(num_codes=7, channels=8, layers=3)
    k = torch.randint(0, 7, (2, height, width))
    logits = prior(k)
    assert logits.shape == (2, 7, height, width) and torch.isfinite(logits).all()
    logp = prior.log_prob(k)
    assert logp.shape == (2,) and (logp < 0).all()
    expected = -torch.nn.functional.cross_entropy(logits, k, reduction="none").flatten(1).sum(1)
    torch.testing.assert_close(logp, expected)
    assert not any("mask" in name for name in prior.state_dict())  # masks are rebuilt, not saved (see test_models)


@pytest.mark.parametrize("make,words", [
    (lambda: PixelCNNPrior(1), "num_codes"), (lambda: PixelCNNPrior(4, channels=0), "channels"),
    (lambda: PixelCNNPrior(4, kernel_size=4), "kernel_size"), (lambda: MaskedConv2d(1, 1, 2, "A"), "odd"),
    (lambda: MaskedConv2d(1, 1, 3, "C"), "mask_type"), (lambda: MaskedConv2d(1, 1, 1, "A"), "keeps no weight"),
    (lambda: PixelCNNPrior(4)(torch.zeros(2, 3, 3)), "int64"), (lambda: PixelCNNPrior(4)(torch.zeros(3, 3).long()),
                                                                 "(N, h, w)"),
    (lambda: PixelCNNPrior(4).sample(0, 2, 2), "n=0"), (lambda: PixelCNNPrior(4).sample(2, 2, 2, temperature=0),
                                                        "temperature"),
])
def test_bad_prior_arguments(make, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.parametrize("kwargs,words", [
    ({"channels": 0}, "channels"), ({"layers": 1.5}, "layers"), ({"kernel_size": 2}, "kernel_size"),
    ({"lr": 0.0}, "lr"), ({"minutes": 0.0}, "minutes"),
])
def test_bad_prior_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        PriorConfig(**kwargs)


def test_sampling_shape_and_determinism_by_seed():
    torch.manual_seed(0)
    prior = PixelCNNPrior(num_codes=7, channels=8, layers=2).eval()

    def draw(seed):
        return prior.sample(5, 3, 4, generator=torch.Generator().manual_seed(seed))

    a, b, c = draw(0), draw(0), draw(1)
    assert a.shape == (5, 3, 4) and a.dtype == torch.long and 0 <= a.min() and a.max() < 7
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_ancestral_sampling_follows_the_model():
    """On a 1 x 2 grid with K = 3, the frequencies of 6000 samples match p(k) = exp(log_prob(k)) for all 9
    maps (total variation below 0.04; sampling position 2 from the wrong conditional or the marginal gives
    several times that for this seed)."""
    torch.manual_seed(3)
    prior = PixelCNNPrior(num_codes=3, channels=8, layers=2).eval()
    with torch.no_grad():  # sharpen the model so the conditionals differ clearly
        prior.head[-1].weight.mul_(20)
    maps = torch.tensor(list(itertools.product(range(3), repeat=2))).view(9, 1, 2)
    with torch.no_grad():
        p = prior.log_prob(maps).exp()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    samples = prior.sample(6000, 1, 2, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(samples[:, 0, 0] * 3 + samples[:, 0, 1], minlength=9).double() / 6000
    assert 0.5 * (freq - p.double()).abs().sum() < 0.04
    assert p.max() - p.min() > 0.2  # the check is not between two near-uniform distributions


def _pattern_codes(n: int, num_codes: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """k[r, c] = (s + r + c) mod K with s uniform per map: the first code carries log K nats, the rest none."""
    s = torch.randint(0, num_codes, (n, 1, 1), generator=generator)
    r, c = torch.arange(size)[:, None], torch.arange(size)[None, :]
    return (s + r + c) % num_codes  # (n, size, size)


def test_prior_learns_a_deterministic_pattern():
    """NLL per code falls from about log K (6 codes: 1.79 nats) towards the entropy of the pattern (log K / 16
    = 0.11 nats per code on 4 x 4 maps) and far below the unigram baseline; samples follow the rule."""
    g = torch.Generator().manual_seed(0)
    k, size = 6, 4
    train, val = _pattern_codes(256, k, size, g), _pattern_codes(64, k, size, g)
    config = PriorConfig(channels=16, layers=3, epochs=15, lr=1e-2, batch_size=32, seed=0)
    prior, result = train_prior(train, val, k, config, log=lambda _: None)
    first = result.history[0]["val_nll"]
    nll = nll_per_code(prior, val)
    assert nll < 0.25 * math.log(k) and nll < 0.5 * first
    assert unigram_nll(train, val, k) > 0.95 * math.log(k)  # every code is equally frequent: no help there
    samples = prior.sample(32, size, size, generator=torch.Generator().manual_seed(0))
    follows = (samples - samples[:, :1, :1] - torch.arange(size)[:, None] - torch.arange(size)[None, :]) % k == 0
    assert follows.flatten(1).all(1).float().mean() > 0.9


def test_train_prior_rejects_empty_code_maps():
    with pytest.raises(PixelwiseError, match="validation"):
        train_prior(torch.zeros(4, 2, 2, dtype=torch.long), torch.zeros(0, 2, 2, dtype=torch.long), 3,
                    PriorConfig(epochs=1), log=lambda _: None)


@pytest.mark.parametrize("n,height,width", [(1, 1, 1), (3, 2, 5), (5, 3, 3)])
def test_nll_per_map_is_minus_log_prob_per_position(n, height, width):
    """Each map's mean nats per code is -log p(k) / (h w) (the chain rule of the prior's own log_prob), and
    nll_per_code is their mean; batching does not change them."""
    torch.manual_seed(0)
    prior = PixelCNNPrior(num_codes=5, channels=8, layers=2).eval()
    codes = torch.randint(0, 5, (n, height, width), generator=torch.Generator().manual_seed(1))
    per_map = nll_per_map(prior, codes)
    with torch.no_grad():
        expected = -prior.log_prob(codes) / (height * width)
    torch.testing.assert_close(per_map, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(nll_per_map(prior, codes, batch_size=2), per_map, rtol=1e-5, atol=1e-6)
    assert nll_per_code(prior, codes) == pytest.approx(float(expected.double().mean()), rel=1e-5)


def test_train_prior_resumes_its_run_folder_bitwise(tmp_path, monkeypatch):
    """A prior fit killed inside its second epoch (2 steps per epoch) and resumed ends with the weights of an
    uninterrupted one, after training only the epochs the kill cut short."""
    g = torch.Generator().manual_seed(0)
    train, val = torch.randint(0, 4, (40, 3, 3), generator=g), torch.randint(0, 4, (8, 3, 3), generator=g)
    config = PriorConfig(channels=4, layers=2, epochs=3, batch_size=16, deterministic=True)
    train_prior(train, val, 4, config, tmp_path / "whole", log=lambda _: None)
    steps = AdamSteps(monkeypatch, interrupt_at=4)
    with pytest.raises(KeyboardInterrupt):
        train_prior(train, val, 4, config, tmp_path / "cut", log=lambda _: None)
    _, result = train_prior(train, val, 4, config, tmp_path / "cut", resume=True, log=lambda _: None)
    assert len(result.history) == 3 and steps.n == 4
    for name in ("last.safetensors", "best.safetensors"):
        assert (tmp_path / "whole" / "checkpoints" / name).read_bytes() == \
            (tmp_path / "cut" / "checkpoints" / name).read_bytes()
