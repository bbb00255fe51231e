"""Trace any ``nn.Module`` into a graph of layers, propagate receptive fields, find a pixel's exact support.

This module gathers, under the name other code imports them by, the parts that live in their own files:

- :mod:`pixelwise.arch.state`: the states a traced tensor carries (:class:`Spatial`, :class:`Global`,
  :class:`Opaque`, :class:`Unknown`), :class:`Node`, :class:`Graph` and :func:`format_state`;
- :mod:`pixelwise.arch.ops`: the torch operations with a rule, and axis maps from their arguments;
- :mod:`pixelwise.arch.classify`: the rule for one recorded call (Araujo et al., Distill 2019);
- :mod:`pixelwise.arch.tracer`: :func:`trace`, which runs the model once under a ``TorchFunctionMode``;
- :mod:`pixelwise.arch.support`: :func:`receptive_field`, the exact :func:`pixel_support` of one output
  pixel, :func:`exact_extent`, the analytic :func:`hull` and :func:`support_period`.

Normalisation layers count as pointwise: their statistics (a mean over the image for instance and group
norm, or for batch norm in training) are ignored, as in the receptive-field literature.
"""

from __future__ import annotations

from pixelwise.arch.ops import (
    ADAPTIVE_MODULES,
    ATOMIC_MODULES,
    ATTENTION_FUNCTIONS,
    AVGPOOL_MODULES,
    CONV_MODULES,
    LAYOUT_FUNCTIONS,
    MAXPOOL_MODULES,
    MERGE_FUNCTIONS,
    NORM_FUNCTIONS,
    NORM_MODULES,
    POINTWISE_FUNCTIONS,
    POINTWISE_MODULES,
    POOL_FUNCTIONS,
    TCONV_MODULES,
)
from pixelwise.arch.state import Global, Graph, Node, Opaque, Spatial, Unknown, format_state
from pixelwise.arch.support import exact_extent, hull, pixel_support, receptive_field, support_period
from pixelwise.arch.tracer import trace

__all__ = [
    "ADAPTIVE_MODULES", "ATOMIC_MODULES", "ATTENTION_FUNCTIONS", "AVGPOOL_MODULES", "CONV_MODULES",
    "LAYOUT_FUNCTIONS", "MAXPOOL_MODULES", "MERGE_FUNCTIONS", "NORM_FUNCTIONS", "NORM_MODULES",
    "POINTWISE_FUNCTIONS", "POINTWISE_MODULES", "POOL_FUNCTIONS", "TCONV_MODULES",
    "Global", "Graph", "Node", "Opaque", "Spatial", "Unknown",
    "exact_extent", "format_state", "hull", "pixel_support", "receptive_field", "support_period", "trace",
]
