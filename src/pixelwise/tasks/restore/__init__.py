"""Learned reconstruction (``pixelwise restore``): data -> measurements -> network -> fit -> evaluation against TV.

``run(config)`` trains a network f ~ A^{-1} for one measurement (the operators of
:mod:`pixelwise.physics.presets`: ``denoise``, ``blur``, ``downsample``, ``inpaint``, ``mri``, ``ct``) in one of
three regimes, then ``evaluate`` scores it next to the classical baselines.

Regimes (``config.regime``):

1. ``pairs``: measured pairs (Y_i, X_i), no knowledge of A: ``min sum ||f(Y_i) - X_i||``. The data folder
   holds ``input/`` and ``target/`` images with the same stems (same size, or ``target = scale * input``
   for super-resolution). Without A there is no TV baseline and no unrolled network.
2. ``simulate``: clean images X_i and a known A: ``min sum ||f(A X_i + n) - X_i||``, with random patches,
   flips and 90-degree rotations, and fresh noise (and, for inpainting, a fresh mask) in every batch.
3. ``measurements``: measurements Y_i and a known A only: ``min sum ||A f(Y_i) - Y_i||``. The recipe
   simulates one fixed pool of measurements from the training images once (one fixed operator, a single
   noise draw each) and never shows the clean images to the loss; the best checkpoint is chosen by the
   validation loss in measurement space, not by PSNR. What this can identify: only the part of f(Y) that
   A sees. Anything in the null space of A (masked pixels, unmeasured k-space lines, missing views) is
   not constrained by the loss at all and is filled only by the network's inductive bias. For denoising
   (A = identity) the problem is degenerate: f = identity is a minimiser, the network learns to copy the
   noise. The recipe therefore refuses it and offers noise splitting instead: ``splitting="r2r"``
   (recorrupted-to-recorrupted, Pang, Zhou, Xu, Ji and Wu 2021, CVPR), which draws z ~ N(0, I) every batch
   and trains ``||A f(y + alpha sigma z) - (y - sigma / alpha z)||``. For Gaussian noise of known sigma
   the two corrupted copies have independent noise, so in expectation this is the supervised loss
   ``||A f(.) - A x||`` plus a constant (the Noise2Noise argument of Lehtinen et al. 2018). It works for
   every A here; the measurement is evaluated with f(y) (not an average of recorrupted inputs).

Noise: Gaussian with ``sigma`` in 8-bit grey levels (``sigma / 255`` in measurement units), or blind with
``sigma_range`` (one sigma per patch drawn uniformly; evaluation then uses ``sigma``). With ``noise_map`` (dncnn,
unet) the network is also told each patch's sigma, as one more input channel (FFDNet; DRUNet), and evaluation and
``apply`` tell it ``sigma`` (or the level given).

Sizes: MRI and CT operators depend on the image size, so those work at one size ``config.size`` (images
centre-cropped to a square and resized; phantoms drawn at that size). The others train on ``patch``-sized
crops and evaluate whole images of any size.

Evaluation protocols (``config.protocol``; "auto" picks by operator; :mod:`pixelwise.metrics.protocols`):
``denoise`` (the DnCNN / BM3D tables: 8-bit output, peak 255, no crop), ``sr`` (the SRCNN / VDSR tables: the
Y channel, ``scale`` pixels shaved; grey runs work on Y itself, rounded to 8 bits as MATLAB's ``rgb2ycbcr`` of a
uint8 image returns it) and ``plain`` (data range 1, the whole image).

Files: ``config`` (the settings), ``models`` (the name -> network table), ``losses`` (the loss modules, the
adversarial term with its checkpointed discriminator), ``data`` (images, phantoms, pairs, patches, simulated
measurements), ``batches`` (the regimes' batches, validation), ``recipe`` (``run``), ``inference`` (loading a
run, ``apply``), ``baseline`` (TV, its weight and its search), ``evaluation`` (``evaluate``), ``dip`` (the deep
image prior of ``pixelwise restore dip``). Names load on first use.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {
    "RestorationConfig": "config", "DEFAULT_SIGMA": "config", "default_patch": "config",
    "MODELS": "models", "Restorer": "models", "build_model": "models",
    "loss_for": "losses",
    "run": "recipe", "evaluate": "evaluation", "evaluation_cases": "evaluation",
    "load_run": "inference", "apply": "inference", "search_tv_lambda": "baseline",
    "DIPConfig": "dip", "run_dip": "dip",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
