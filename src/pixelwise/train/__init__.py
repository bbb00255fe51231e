"""Training machinery: the fit loop, checkpoints, run folders, time budgets, the allocator setting."""

from pixelwise.train.allocator import tune_malloc
from pixelwise.train.checkpoint import load_weights, save_weights
from pixelwise.train.loop import FitConfig, FitResult, fit
from pixelwise.train.runs import prepare_run_dir, read_json, write_json

__all__ = ["FitConfig", "FitResult", "fit", "load_weights", "prepare_run_dir", "read_json", "save_weights",
           "tune_malloc", "write_json"]
