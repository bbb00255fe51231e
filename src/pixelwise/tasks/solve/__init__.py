"""Classical reconstruction recipe (``pixelwise solve``): image -> simulated measurement -> solver -> scores.

``run(config)`` builds the forward operator of ``config.measurement`` (:mod:`pixelwise.physics.presets`),
simulates ``y = noise(A x)`` from a clean image (or reads a measurement file), reconstructs with one method (or
every method with ``compare``) and writes into the folder ``config.out`` (the run-folder rules of
:class:`pixelwise.train.runs.RunFolder`: nothing is written before every file is checked; an existing folder is
replaced only with ``overwrite``):

- ``config.json``: every setting (paths absolute), a valid ``--config`` to repeat the run;
- ``measurement.npy`` (the exact measurement, reusable with ``measured``) and ``measurement.png`` (a picture of
  it: the image itself, the k-space log-magnitude for MRI, the sinogram for CT); ``mask.png`` for inpainting and
  MRI;
- ``naive.png`` and ``reconstruction.png`` (``reconstruction_<method>.png`` with ``compare``);
- ``figure.png``: truth, measurement, naive and reconstruction(s) side by side with PSNR / SSIM;
- ``metrics.json``: the configuration, the operator, the noise, the naive scores, and per method the lambda
  (with the search table for ``auto``), iterations, seconds, PSNR and SSIM.

Units. Images are in [0, 1]. ``noise_sigma`` is in 8-bit grey levels: the Gaussian noise added to the
measurement has standard deviation ``noise_sigma / 255`` in the measurement's own units (for blur, inpainting,
down-sampling and MRI with its orthonormal FFT this is the image scale; a CT sinogram holds line integrals, sums
of about ``H`` pixel values, so the same sigma is relatively weaker there).

Lambda. Each method has a default weight per operator (:func:`pixelwise.solvers.methods.default_lambda`, scaled
by the noise level); with ``lam="auto"`` a short search around it picks the value with the best mean PSNR on
*validation* photographs (the bundled ``astronaut``, or ``validation``: an image or a folder of them), never on the
image being reconstructed.

Files: ``config`` (the settings), ``inputs`` (reading and checking the image, measurement, mask and validation
files), ``recipe`` (``run``, one method's solve, the weight search), ``outputs`` (pictures, figure, table).
Names load on first use, so that the command line reads the config without the solvers.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"SolveConfig": "config", "run": "recipe", "prepare": "recipe", "format_table": "outputs"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
