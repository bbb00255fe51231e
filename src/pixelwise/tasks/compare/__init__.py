"""Comparing runs (``pixelwise segment compare``, ``pixelwise restore compare``): the same test cases, scored by two
or more runs of one command, compared case by case.

``compare(runs, kind, out)`` reads each run's own test results (or an ``evaluations/NAME`` folder of it), refuses
runs whose task settings or test cases differ, and writes the paired differences against the first run with a
seeded paired bootstrap interval (:func:`pixelwise.metrics.compare.paired_comparison`), wins / ties / losses by case,
the case categories side by side, a figure of the cases where the runs disagree most, and a report page.

Files: ``kinds`` (what each command's comparison needs), ``results`` (reading and checking runs), ``figures`` (the
disagreement figures), ``recipe`` (``compare``). Names load on first use.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"compare": "recipe", "KINDS": "kinds", "Kind": "kinds", "read_result": "results"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
