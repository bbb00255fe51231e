"""``pixelwise export``: a trained segmentation or restoration network as a file that runs without pixelwise.

Files: ``networks`` (the network of a run, as the graph's user feeds it, and what its input may be), ``graph``
(``export_run``: ONNX through ``torch.onnx.export``, checked in onnxruntime before it is written). Names load on
first use, so that the command line builds its parser without torch.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"export_run": "graph", "OPSET": "graph", "FORMATS": "graph", "network_of": "networks",
            "Exportable": "networks"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
