"""Self-supervised pretraining (``pixelwise pretrain``): unlabelled images -> an encoder for ``segment train --init``.

``run(config)`` trains the encoder of the segmentation U-Net or ViT (:mod:`pixelwise.models.encoders`, the same
modules under the same parameter names) on a pretext task: SimCLR's contrastive views with NT-Xent (Chen et al.
2020), or a plain, denoising (Vincent et al. 2008) or masked (He et al. 2022) autoencoder. The run folder is every
recipe's; its checkpoints hold the pretext network, whose ``encoder.*`` weights a segmentation run loads by name.
``evaluate`` scores the pretext task on held-out images; ``probe`` measures linear-probe accuracy on labelled
images against a random and a supervised encoder.

Files: ``config`` (the settings), ``data`` (images from folders, .npz files and named sets), ``models`` (the method
-> network table), ``batches`` (views, noise and masks; the validator), ``recipe`` (``run``), ``evaluation``
(``evaluate``, ``load_run``), ``probing`` (``probe``). Names load on first use.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {
    "PretrainConfig": "config", "METHODS": "models", "build_model": "models", "build_encoder": "models",
    "loss_for": "models", "run": "recipe", "evaluate": "evaluation", "load_run": "evaluation", "probe": "probing",
    "read_images": "data",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
