"""Task recipes, one package per command: ``segment``, ``solve``, ``restore`` (with ``restore dip``), ``latent``,
``diffuse``, and ``classify`` (the digit judge). Each is data -> model -> loss -> fit -> evaluate -> report with a
dataclass config, on the run-folder contract of :mod:`pixelwise.train.runs` (see docs/DESIGN.md)."""
