"""Models: plain ``nn.Module`` classes importing only torch, shapes and papers in their docstrings."""

from pixelwise.models.encoders import UNetEncoder, ViTEncoder, encoder_of, freeze
from pixelwise.models.fcn import FCN
from pixelwise.models.pretext import (
    ContrastiveNet,
    ConvReconstructionNet,
    LinearClassifier,
    ProjectionHead,
    RestorationUNet,
    ViTReconstructionNet,
)
from pixelwise.models.reconstruction import DIPNet, ResidualUNet, Unrolled
from pixelwise.models.restoration import SRCNN, VDSR, DnCNN, PostUpsample
from pixelwise.models.spatial_transformer import SpatialTransformer
from pixelwise.models.unet import UNet, valid_input_for_output, valid_input_sizes, valid_output_size
from pixelwise.models.vit import SegmentViT

# name -> class, for the command line and run folders; a wrong name lists the valid ones.
SEGMENTATION_MODELS = {"unet": UNet, "vit": SegmentViT, "fcn": FCN}


def segmentation_model_class(name: str):
    try:
        return SEGMENTATION_MODELS[name]
    except KeyError:
        raise ValueError(f"model {name!r} is not known; use one of {', '.join(SEGMENTATION_MODELS)}.") from None


__all__ = ["FCN", "SEGMENTATION_MODELS", "SRCNN", "VDSR", "ContrastiveNet", "ConvReconstructionNet", "DIPNet", "DnCNN",
           "LinearClassifier", "PostUpsample", "ProjectionHead", "ResidualUNet", "RestorationUNet", "SegmentViT",
           "SpatialTransformer", "UNet", "UNetEncoder", "Unrolled", "ViTEncoder", "ViTReconstructionNet", "encoder_of",
           "freeze", "segmentation_model_class", "valid_input_for_output", "valid_input_sizes", "valid_output_size"]
