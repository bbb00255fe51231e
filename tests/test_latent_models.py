"""Autoencoder family: code shapes and output ranges on odd sizes, bad hyperparameters; VQ-VAE quantisation,
straight-through gradient, perplexity and dead-code restarts; corruptions. (Gradients to every parameter,
determinism and save/load are checked for every model family by tests/test_models.py.)"""

from __future__ import annotations

import pytest
import torch

from pixelwise.models.autoencoders import AEOutput, ConvAutoencoder, MLPAutoencoder
from pixelwise.models.corruption import corrupt, gaussian_noise, masking, salt_and_pepper
from pixelwise.models.vqvae import VQVAE, VectorQuantizer

# name -> (constructor of a model for in_shape, expected code shape given (N, in_shape))
MODELS = {
    "mlp": lambda s: MLPAutoencoder(s, 5, hidden=(17,)),
    "mlp_linear": lambda s: MLPAutoencoder(s, 3, hidden=(), activation="none", output="linear"),
    "mlp_vae": lambda s: MLPAutoencoder(s, 4, hidden=(9,), variational=True),
    "mlp_sigmoid_code": lambda s: MLPAutoencoder(s, 6, hidden=(), code_activation="sigmoid"),
    "conv": lambda s: ConvAutoencoder(s, 7, base=4),
    "conv_map": lambda s: ConvAutoencoder(s, 3, base=4, bottleneck="map"),
    "conv_vae": lambda s: ConvAutoencoder(s, 2, base=4, variational=True),
    "vqvae": lambda s: VQVAE(s, code_dim=3, num_codes=5, base=4),
}
SHAPES = [(1, 28, 28), (1, 8, 8), (2, 13, 9), (3, 5, 6), (1, 4, 7)]

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


def _down(n):
    return (n + 1) // 2


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_code_shapes_and_output_ranges(name, shape):
    torch.manual_seed(0)
    model = MODELS[name](shape)
    x = torch.rand(3, *shape)
    out = model(x)
    assert isinstance(out, AEOutput)
    assert out.x_hat.shape == x.shape
    h, w = _down(_down(shape[1])), _down(_down(shape[2]))
    expected = {"conv_map": (3, 3, h, w), "vqvae": (3, 3, h, w)}.get(name, (3, model.latent_dim))
    assert tuple(out.z.shape) == expected
    if name in ("mlp", "conv", "conv_vae", "vqvae", "mlp_vae", "mlp_sigmoid_code"):
        assert 0 <= out.x_hat.min() and out.x_hat.max() <= 1


def test_vae_training_mode_samples_and_eval_mode_uses_mu():
    torch.manual_seed(0)
    model = ConvAutoencoder((1, 8, 8), 4, base=4, variational=True)
    x = torch.rand(5, 1, 8, 8)
    out = model(x)
    assert out.mu.shape == out.logvar.shape == (5, 4)
    assert not torch.allclose(out.z, out.mu)
    model.eval()
    out = model(x)
    torch.testing.assert_close(out.z, out.mu)


@pytest.mark.parametrize("make,words", [
    (lambda: MLPAutoencoder((1, 8), 2), "in_shape"),
    (lambda: MLPAutoencoder((1, 8, 8), 0), "latent_dim"),
    (lambda: MLPAutoencoder((1, 8, 8), 2, output="tanh"), "output"),
    (lambda: MLPAutoencoder((1, 8, 8), 2, activation="gelu2"), "activation"),
    (lambda: MLPAutoencoder((1, 8, 8), 2, variational=True, code_activation="sigmoid"), "Gaussian"),
    (lambda: ConvAutoencoder((1, 3, 8), 2), "height"),
    (lambda: ConvAutoencoder((1, 8, 8), 2, bottleneck="cube"), "bottleneck"),
    (lambda: ConvAutoencoder((1, 8, 8), 2, base=0), "base"),
    (lambda: VectorQuantizer(1, 4), "num_codes"),
    (lambda: VectorQuantizer(4, 4, restart_threshold=1.5), "restart_threshold"),
])
def test_bad_hyperparameters(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="takes images of shape"):
        ConvAutoencoder((1, 8, 8), 2)(torch.rand(1, 1, 9, 8))
    with pytest.raises(ValueError, match="takes images of shape"):
        MLPAutoencoder((1, 8, 8), 2)(torch.rand(1, 2, 8, 8))


# --- vector quantisation -----------------------------------------------------------------------------------
def _quantizer(codes):
    q = VectorQuantizer(len(codes), len(codes[0]), restart_threshold=0.0)
    q.codebook.data = torch.tensor(codes, dtype=torch.float32)
    return q


def test_nearest_code_by_hand():
    q = _quantizer([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    z = torch.tensor([[0.1, 0.1], [0.9, -0.2], [0.2, 1.5], [0.6, 0.0]]).T.reshape(1, 2, 2, 2)  # (1, D, 2, 2)
    out = q(z)
    assert out.indices.flatten().tolist() == [0, 1, 2, 1]
    torch.testing.assert_close(out.z_q[0, :, 0, 0], torch.tensor([0.0, 0.0]))
    torch.testing.assert_close(out.z_q[0, :, 1, 0], torch.tensor([0.0, 2.0]))
    # codebook and commitment losses are both mean squared distances to the chosen codes
    expected = ((z - out.z_q) ** 2).mean()
    torch.testing.assert_close(out.codebook_loss, expected)
    torch.testing.assert_close(out.commitment_loss, expected)


def test_straight_through_gradient_is_identity():
    q = _quantizer([[0.0], [1.0]])
    z = torch.tensor([0.2, 0.9, 0.4]).view(1, 1, 1, 3).requires_grad_()
    out = q(z)
    weights = torch.tensor([1.0, -2.0, 3.0]).view(1, 1, 1, 3)
    (out.z_q * weights).sum().backward()
    torch.testing.assert_close(z.grad, weights)  # dz_q/dz_e passed through as the identity
    # the codebook gets gradient only from the codebook loss, not through z_q
    assert q.codebook.grad is None


def test_codebook_and_commitment_gradients_go_to_different_places():
    q = _quantizer([[0.0], [1.0]])
    z = torch.tensor([0.2, 0.9]).view(1, 1, 1, 2).requires_grad_()
    out = q(z)
    out.codebook_loss.backward(retain_graph=True)
    assert z.grad is None and q.codebook.grad.abs().sum() > 0
    q.codebook.grad = None
    out.commitment_loss.backward()
    assert q.codebook.grad is None and z.grad.abs().sum() > 0


@pytest.mark.parametrize("indices,expected", [([0, 1, 2, 3], 4.0), ([2, 2, 2, 2], 1.0), ([0, 0, 1, 1], 2.0)])
def test_perplexity_by_hand(indices, expected):
    codes = [[0.0], [10.0], [20.0], [30.0]]
    q = _quantizer(codes)
    z = torch.tensor([codes[i][0] for i in indices]).view(1, 1, 1, -1)
    torch.testing.assert_close(q(z).perplexity, torch.tensor(expected))


def test_dead_codes_are_restarted_onto_the_worst_served_outputs():
    q = VectorQuantizer(3, 1, restart_threshold=0.5, usage_decay=0.5)
    q.codebook.data = torch.tensor([[0.0], [100.0], [200.0]])
    z = torch.tensor([0.0, 0.1, 0.2, 7.0]).view(1, 1, 1, 4)  # only code 0 is ever used
    q.train()
    q(z)
    q(z)  # usage of codes 1 and 2 has decayed below 0.5 / 3
    q(z)
    assert q.restarts >= 1
    assert 7.0 in q.codebook.data.flatten().tolist()  # the worst-served output became a code
    q.eval()
    assert q(z).indices.flatten().tolist()[-1] != 0


def test_vqvae_decode_indices_matches_forward():
    torch.manual_seed(0)
    model = VQVAE((1, 8, 8), code_dim=2, num_codes=4, base=4).eval()
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(model.decode_indices(out.indices), out.x_hat)


# --- corruptions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_masking_rate(p):
    x = torch.full((20, 1, 17, 13), 0.5)
    y = masking(x, p, torch.Generator().manual_seed(0))
    assert abs((y == 0).float().mean().item() - p) < 0.02
    assert set(torch.unique(y).tolist()) <= {0.0, 0.5}


def test_salt_and_pepper_rate_and_values():
    x = torch.full((20, 1, 17, 13), 0.5)
    y = salt_and_pepper(x, 0.2, torch.Generator().manual_seed(0))
    changed = y != 0.5
    assert abs(changed.float().mean().item() - 0.2) < 0.02
    assert abs((y == 1).float().mean().item() - 0.1) < 0.02
    assert set(torch.unique(y).tolist()) <= {0.0, 0.5, 1.0}


def test_gaussian_noise_statistics_and_generator():
    x = torch.zeros(50, 1, 20, 20)
    y = gaussian_noise(x, 0.3, torch.Generator().manual_seed(0))
    assert abs(y.mean().item()) < 0.01 and abs(y.std().item() - 0.3) < 0.01
    torch.testing.assert_close(y, corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("kind,level,words", [
    ("gaussian", -1, "sigma"), ("masking", 1.5, "probability"), ("salt_pepper", -0.1, "probability"),
    ("blur", 0.1, "not known"),
])
def test_bad_corruptions(kind, level, words):
    with pytest.raises(ValueError, match=words):
        corrupt(torch.zeros(2, 2), kind, level)
