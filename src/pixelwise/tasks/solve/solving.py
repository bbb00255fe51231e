"""One method of ``pixelwise solve``: its weight (given, the default, or searched with ``--lambda auto``), its
reconstruction with a progress bar, and its row of ``metrics.json`` (lambda, iterations, seconds, scores)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from pixelwise.metrics.image import SSIM_WINDOW, psnr, ssim
from pixelwise.physics import Wavelet
from pixelwise.solvers import DEFAULT_ITERATIONS, default_lambda, reconstruct
from pixelwise.solvers.tv_baseline import tv_operators
from pixelwise.solvers.wavelet import auto_levels
from pixelwise.tasks.solve.config import PRIOR_OF, SolveConfig
from pixelwise.tasks.solve.learned import (
    LEARNED_LAMBDA,
    LEARNED_METHODS,
    PNP_ALGORITHM,
    PNP_SEARCHED_ALGORITHMS,
    PNP_SEARCHED_ITERATIONS,
    SEARCHED,
    iterations_of,
    reconstruct_learned,
)
from pixelwise.tasks.solve.weights import search_classical, search_learned

# the iterative methods solved in float32: their answers agree with float64 to far below what PSNR shows, and a
# float64 blur (separable convolution) or CT projection costs several times a float32 one on a CPU
FLOAT32 = ("tv", "pgd", "wavelet")


def scores(x: torch.Tensor, truth: torch.Tensor | None) -> dict:
    """PSNR and SSIM of ``x`` clipped to [0, 1] against the truth (data range 1); {} without a truth. SSIM is None
    for images smaller than its 11 x 11 window (the 8 x 8 digits)."""
    if truth is None:
        return {}
    x = x.clamp(0, 1)
    fits = min(truth.shape[-2:]) >= SSIM_WINDOW
    return {"psnr": psnr(x[0], truth[0], 1.0), "ssim": ssim(x[0], truth[0], 1.0) if fits else None}


def wavelet_levels(config: SolveConfig, shape) -> int:
    """The wavelet method's levels: ``wavelet_levels``, checked against the image size, or as many as it allows
    (up to 4)."""
    if config.wavelet_levels is None:
        return auto_levels(shape[-2:], config.wavelet)
    Wavelet(config.wavelet, config.wavelet_levels, size=shape[-2:])  # refuses a level too deep for the image
    return config.wavelet_levels


def default_weight(config: SolveConfig, method: str) -> float | None:
    """The method's weight before any search: a learned method's own, or the classical heuristic by operator and
    noise level; None for the methods without one (adjoint, cg)."""
    if method in LEARNED_METHODS:
        return LEARNED_LAMBDA[method]
    return default_lambda(config.measurement.operator, method, config.sigma)


def searched(config: SolveConfig, method: str) -> bool:
    """Whether ``--lambda auto`` searches the method's weight (not CSGM's and DPS's: random, and slow)."""
    return default_weight(config, method) is not None and (method not in LEARNED_METHODS or method in SEARCHED)


def noise_level(config: SolveConfig, y: torch.Tensor) -> float:
    """The noise std of the measurement the learned priors assume: ``noise_sigma / 255``, or for Poisson noise its
    std at the mean measured value, ``sqrt(mean(y) / peak)``."""
    if config.poisson_peak is not None:
        return max(float(y.mean()), 0.0) ** 0.5 / config.poisson_peak**0.5
    return config.sigma


def solve(config: SolveConfig, problem, method: str, progress: bool = True,
          log: Callable[[str], None] = print) -> tuple[dict, torch.Tensor]:
    """One method on ``problem`` (a :class:`~pixelwise.tasks.solve.recipe.Problem`): its weight, the reconstruction
    with a progress bar, and the row of metrics.json (lambda, iterations, seconds, scores, the prior's run)."""
    from tqdm.auto import tqdm

    default = default_weight(config, method)
    lam = config.lam if isinstance(config.lam, (int, float)) and default is not None else default
    run = _Runner(config, problem, method)
    row: dict = {"lambda": lam, "iterations": 0 if method == "adjoint" else run.iterations}
    start = time.perf_counter()
    if config.lam == "auto" and searched(config, method):
        found = run.search(lam, progress)
        lam = found.lam
        row.update({"lambda": lam, "iterations": run.iterations, "lambda_search": [[v, s] for v, s in found.table],
                    "search_seconds": time.perf_counter() - start})
        many = len(problem.validation) > 1
        where = f"{len(problem.validation)} validation images" if many else "the validation image"
        if run.loops:
            row["pnp_search"] = run.loops
            log(f"{method}: {run.algorithm}, {run.iterations} denoiser levels (the best of {len(run.loops)} loops on "
                f"{where})")
        log(f"{method}: {found.describe('mean PSNR' if many else 'PSNR', where)}")
    elif config.lam == "auto" and default is not None:
        log(f"{method}: lambda = {lam:.3g} (the default; --lambda auto searches only deterministic methods)")
    bar = tqdm(total=run.iterations, desc=method, leave=False, disable=not progress or method == "adjoint")

    def advance(k: int, x: torch.Tensor) -> None:  # returns None: a true value would stop the solver
        bar.update(1)

    start = time.perf_counter()
    x = run(problem.y, lam, advance)
    row["seconds"] = time.perf_counter() - start
    bar.close()
    if method in LEARNED_METHODS:
        row["prior"] = run.prior.info
    if method == "pnp":
        row["pnp_algorithm"] = run.algorithm
    row.update(scores(x, problem.truth))
    return row, x


class _Runner:
    """``run(y, lam, callback)`` for one method on the problem's operator, ``run.search(lam, progress)`` its
    weight on the validation image (plug-and-play's: with its loop and iteration count, those not given), and
    ``run.iterations`` (``run.algorithm``: plug-and-play's loop; ``run.loops``: each loop searched, its best
    weight and PSNR)."""

    def __init__(self, config: SolveConfig, problem, method: str):
        self.config, self.problem, self.method = config, problem, method
        self.learned = method in LEARNED_METHODS
        self.prior = problem.priors.get(PRIOR_OF[method]) if self.learned else None
        if self.learned:
            self.iterations = iterations_of(method, self.prior, config.iterations, config.measurement.operator)
        else:
            self.iterations = DEFAULT_ITERATIONS[method] if config.iterations is None else config.iterations
        self.op = tv_operators([problem.op])[id(problem.op)]  # CT: the sparse matrix where it fits (same map)
        self.algorithm = config.pnp_algorithm or PNP_ALGORITHM
        self.loops: list[dict] = []
        self.settings: dict = {}
        if method == "wavelet":
            shape = problem.naive.shape
            self.settings = {"wavelet": config.wavelet, "levels": wavelet_levels(config, shape)}
        if method == "tv" and problem.op.fourier_multiplier(problem.naive.shape) is None and not self.op.nonnegative:
            self.settings["op_norm"] = self.op.norm(tuple(problem.naive.shape), iterations=30, dtype=torch.float64,
                                                    generator=torch.Generator().manual_seed(0))

    def __call__(self, y: torch.Tensor, lam: float | None, callback: Callable | None = None) -> torch.Tensor:
        if self.learned:
            sigma_n = noise_level(self.config, y)
            settings = {"pnp_algorithm": self.algorithm, "restarts": self.config.restarts,
                        "shape": tuple(self.problem.naive.shape)}
            return reconstruct_learned(self.op, y, self.method, self.prior, lam, self.iterations, sigma_n, settings,
                                       self.config.seed, callback)
        if self.method in FLOAT32:  # the operators run several times faster in float32 (blur: 5-8 times)
            y = y.float()
        x = reconstruct(self.op, y, self.method, lam, self.iterations, callback=callback, **self.settings)
        return x.to(torch.float64)

    def search(self, lam: float, progress: bool):
        if self.method == "pnp":
            return self._search_pnp(lam, progress)
        if self.learned:
            return search_learned(self._validation_solves, self._validation_images(), self.method, lam, progress)
        return search_classical(self.op, self.problem.validation, self.method, lam, self.iterations, self.settings,
                                progress)

    def _validation_images(self) -> list[torch.Tensor]:
        return [image for image, _ in self.problem.validation]

    def _validation_solves(self, lam: float) -> list[torch.Tensor]:
        """The method at weight ``lam`` on each validation measurement."""
        return [self(y, lam) for _, y in self.problem.validation]

    def _search_pnp(self, lam: float, progress: bool):
        """Plug-and-play's weight searched for each loop (HQS, ADMM) and iteration count the user left open; the
        loop, count and weight with the best PSNR on the validation image are kept. The denoiser levels fall from
        49/255 to the noise's in every count, so the count sets how much denoising is done, and the best differs
        by operator (DPIR: 8 for deblurring, 24 for super-resolution)."""
        given_loop, given_count = self.config.pnp_algorithm, self.config.iterations
        loops = [given_loop] if given_loop else list(PNP_SEARCHED_ALGORITHMS)
        counts = [given_count] if given_count is not None else list(PNP_SEARCHED_ITERATIONS)
        best = None
        for algorithm in loops:
            for count in counts:
                self.algorithm, self.iterations = algorithm, count
                found = search_learned(self._validation_solves, self._validation_images(),
                                       f"pnp {algorithm} x{count}", lam, progress)
                self.loops.append({"pnp_algorithm": algorithm, "iterations": count, "lambda": found.lam,
                                   "psnr": found.score})
                if best is None or found.score > best[2].score:
                    best = (algorithm, count, found)
        self.algorithm, self.iterations, found = best
        if len(self.loops) == 1:
            self.loops = []  # nothing but the weight was searched
        return found

