"""Understanding networks: output sizes, receptive fields, summaries, convolution as a matrix, patch MLPs.

Layer 0: pure maths on tensors (torch, numpy, scipy only). Plots of effective receptive fields live in
:mod:`pixelwise.report.arch`; the command line in :mod:`pixelwise.cli.arch`.
"""

from pixelwise.arch.empirical import effective_receptive_field, gradient_support, linear_mode, linearised
from pixelwise.arch.layers import (
    AxisRF,
    LayerSpec,
    chain_output_sizes,
    chain_receptive_fields,
    chain_to_module,
    chain_valid_input_sizes,
    conv_output_size,
    conv_rf,
    conv_transpose_output_size,
    make_layer,
    parse_layers,
    pool_output_size,
    transposed_conv_rf,
)
from pixelwise.arch.linear import conv_matrix, transposed_conv_reference
from pixelwise.arch.patch_mlp import PatchMLP
from pixelwise.arch.state import Global, Graph, Node, Opaque, Spatial, Unknown, format_state
from pixelwise.arch.summary import Summary, accepted_input_sizes, format_summary, plan_shapes, summarize
from pixelwise.arch.support import exact_extent, hull, pixel_support, receptive_field
from pixelwise.arch.tracer import trace

__all__ = [
    "AxisRF", "Global", "Graph", "LayerSpec", "Node", "Opaque", "PatchMLP", "Spatial", "Summary", "Unknown",
    "accepted_input_sizes", "chain_output_sizes", "chain_receptive_fields", "chain_to_module",
    "chain_valid_input_sizes", "conv_matrix", "conv_output_size", "conv_rf", "conv_transpose_output_size",
    "effective_receptive_field", "exact_extent", "format_state", "format_summary", "gradient_support", "hull",
    "linear_mode", "linearised", "make_layer", "parse_layers", "pixel_support", "plan_shapes",
    "pool_output_size", "receptive_field", "summarize", "trace", "transposed_conv_reference",
    "transposed_conv_rf",
]
