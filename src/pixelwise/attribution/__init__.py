"""Attribution and visualisation of trained networks: gradient maps (vanilla gradient, SmoothGrad, gradient x
input, guided backpropagation), occlusion, region scores for segmentation, faithfulness and sanity measures,
first-layer filters and activation maximisation. Pure torch/numpy/scipy (layer 0)."""

from pixelwise.attribution.faithfulness import area, deletion_insertion, randomised_copy, rank_correlation
from pixelwise.attribution.gradients import (
    gradient_x_input,
    guided_backprop,
    input_gradient,
    saliency,
    smoothgrad,
    to_map,
)
from pixelwise.attribution.occlusion import occlusion
from pixelwise.attribution.targets import box_mask, class_score, predicted_region, region_score
from pixelwise.attribution.visualise import (
    channel_activation,
    first_layer_filters,
    gaussian_blur,
    maximise_activation,
    total_variation,
)

# name -> method(model, x, head, **options) -> (N, C, H, W); the one table the explain command reads
METHODS = {"saliency": saliency, "smoothgrad": smoothgrad, "gradient_x_input": gradient_x_input,
           "guided_backprop": guided_backprop, "occlusion": occlusion}

__all__ = ["METHODS", "area", "box_mask", "channel_activation", "class_score", "deletion_insertion",
           "first_layer_filters", "gaussian_blur", "gradient_x_input", "guided_backprop", "input_gradient",
           "maximise_activation", "occlusion", "predicted_region", "randomised_copy", "rank_correlation",
           "region_score", "saliency", "smoothgrad", "to_map", "total_variation"]
