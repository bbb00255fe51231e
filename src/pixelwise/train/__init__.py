"""Training machinery: the fit loop, checkpoints, run folders, configs, time budgets, the allocator setting.

The names below are loaded on first use, so that ``pixelwise.train.config`` (configs without torch) can be
imported by the command line without importing torch.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {
    "FitConfig": "config", "TrainingConfig": "config", "option": "config",
    "FitResult": "loop", "fit": "loop",
    "load_weights": "checkpoint", "save_weights": "checkpoint",
    "RunFolder": "runs", "RunResult": "runs", "read_config": "runs", "checkpoint_path": "runs",
    "read_json": "files", "write_json": "files", "read_csv": "files", "write_csv": "files",
    "tune_malloc": "allocator",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
