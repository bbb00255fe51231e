"""Fully convolutional networks (Long, Shelhamer and Darrell, "Fully Convolutional Networks for
Semantic Segmentation", CVPR 2015), with optional dilated convolutions (Yu and Koltun, "Multi-Scale
Context Aggregation by Dilated Convolutions", ICLR 2016).

The classifier layers are convolutions: a K x K convolution over the last feature map plays the part of
the first fully connected layer, then 1 x 1 convolutions the part of the others. On the training input
size it outputs one prediction per image, exactly like a classifier; a larger input gives a dense map of
predictions (the LeNet -> fully convolutional LeNet example). ``upsample="bilinear"`` adds the FCN-32s
head: the coarse score map is upsampled to the input size for full-resolution masks.

Shapes: ``forward(x: (N, C_in, H, W))`` -> ``(N, C_out, H, W)`` with upsampling, else the coarse map
``(N, C_out, floor(H / 2**depth) - K + 1, floor(W / 2**depth) - K + 1)`` (K = ``classifier_kernel``) with
same padding; with valid padding each block maps a size s to floor((s - 4 d) / 2) instead.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.models.unet import make_norm


class FCN(nn.Module):
    """Conv blocks (3x3, optional dilation, norm, ReLU, then 2x2 max pooling) and a convolutional classifier.

    Args:
        depth: number of blocks, each halving the resolution.
        dilations: one dilation per block (default all 1); padding keeps each block's size.
        classifier_kernel: K of the "fully connected as convolution" layer (1 keeps the map as large as
            possible; the LeNet analogue uses the size of its last feature map, e.g. 5).
        hidden: channels of the classifier layers.
        upsample: "bilinear" for a full-resolution output, "none" for the coarse dense map.
        padding: "same" (each 3x3 convolution keeps the size) or "valid" (unpadded, as LeNet: then every
            coarse prediction depends on one input window only, with no border effects, and the dense map
            on a larger input equals the classifier applied to each window, with a stride of 2**depth).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, base_channels: int = 32, depth: int = 3,
                 dilations: tuple[int, ...] | None = None, classifier_kernel: int = 1, hidden: int = 128,
                 norm: str = "batch", upsample: str = "bilinear", padding: str = "same"):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding={padding!r} is not known; use 'same' or 'valid'.")
        dilations = tuple(dilations) if dilations is not None else (1,) * depth
        if len(dilations) != depth or any(d < 1 for d in dilations):
            raise ValueError(f"dilations={dilations} must hold {depth} positive integers (one per block).")
        if upsample not in ("bilinear", "none"):
            raise ValueError(f"upsample={upsample!r} is not known; use 'bilinear' or 'none'.")
        if classifier_kernel < 1:
            raise ValueError(f"classifier_kernel={classifier_kernel} must be >= 1.")
        blocks, c = [], in_channels
        for i, d in enumerate(dilations):
            c_out = base_channels * 2**i
            p = d if padding == "same" else 0  # a 3x3 conv with dilation d and padding d keeps the size
            blocks += [nn.Conv2d(c, c_out, 3, padding=p, dilation=d), make_norm(norm, c_out), nn.ReLU(inplace=True),
                       nn.Conv2d(c_out, c_out, 3, padding=p, dilation=d), make_norm(norm, c_out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = c_out
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Conv2d(c, hidden, classifier_kernel), nn.ReLU(inplace=True),  # "fc1" as a K x K convolution
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True),  # "fc2" as a 1 x 1 convolution
            nn.Conv2d(hidden, out_channels, 1),  # scores
        )
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W) (bilinear head) or the coarse map (upsample="none")."""
        scores = self.classifier(self.features(x))  # (N, C_out, h', w')
        if self.upsample == "bilinear":
            scores = F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return scores
