"""The settings of private, federated and adversarial training, as nested configs a training recipe holds.

A recipe that supports them declares ``privacy: PrivacyConfig``, ``federated: FederatedConfig`` or
``robustness: AdversarialConfig`` fields (``option(default_factory=...)``); the command line shows each as a group
(``--dp-clip``, ``--clients``, ``--adversarial``...), and ``config.json`` holds them as tables. What they do is in
:mod:`pixelwise.train.privacy` (DP-SGD), :mod:`pixelwise.train.federated` (FedAvg) and
:mod:`pixelwise.train.adversarial`; :func:`check_combination` holds the rules across them. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import one_of, option, whole

ATTACKS = ("fgsm", "pgd")
CLIENT_SPLITS = ("iid", "class", "brightness")


def fraction(text: str) -> float:
    """A number such as ``0.03`` or a fraction such as ``8/255``."""
    if "/" in text:
        top, bottom = text.split("/", 1)
        return float(top) / float(bottom)
    return float(text)


def _positive(value, name: str, example: str) -> None:
    if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                                  and math.isfinite(value)):
        raise PixelwiseError(f"{name}={value} must be a finite number > 0, e.g. {example}.")


@dataclass
class PrivacyConfig:
    """DP-SGD (Abadi et al. 2016): per-example clipping to ``dp_clip`` and Gaussian noise of ``dp_noise`` x the
    clip, or the noise calibrated to reach ``dp_epsilon`` at ``dp_delta`` by the end of the run."""

    dp_clip: float | None = option(None, help="DP-SGD: clip each example's gradient to this L2 norm C (default: "
                                   "no DP-SGD)")
    dp_noise: float | None = option(None, help="DP-SGD: noise multiplier sigma (noise std = sigma x C); or give "
                                    "--dp-epsilon")
    dp_epsilon: float | None = option(None, help="DP-SGD: the epsilon to reach by the end of --epochs; the noise "
                                      "is calibrated to it")
    dp_delta: float = option(1e-5, help="DP-SGD: delta of (epsilon, delta)-DP; below 1 / (training cases)")
    # set by the recipe: the noise multiplier used (given, or calibrated to dp_epsilon when the run started)
    dp_sigma: float | None = option(None, derived=True)

    def __post_init__(self):
        _positive(self.dp_clip, "dp_clip", "1.0")
        _positive(self.dp_noise, "dp_noise", "1.0")
        _positive(self.dp_epsilon, "dp_epsilon", "8")
        if not (isinstance(self.dp_delta, (int, float)) and 0 < self.dp_delta < 1):
            raise PixelwiseError(f"dp_delta={self.dp_delta} must lie in (0, 1), e.g. 1e-5.")
        if (self.dp_noise is not None or self.dp_epsilon is not None) and self.dp_clip is None:
            raise PixelwiseError("DP-SGD needs dp_clip (--dp-clip), the per-example gradient norm C, e.g. "
                                 "--dp-clip 1.0.")
        if self.dp_clip is not None and (self.dp_noise is None) == (self.dp_epsilon is None):
            raise PixelwiseError("DP-SGD needs exactly one of dp_noise (--dp-noise) and dp_epsilon (--dp-epsilon); "
                                 "give the noise multiplier or the privacy target, not both or neither.")

    @property
    def enabled(self) -> bool:
        return self.dp_clip is not None


@dataclass
class FederatedConfig:
    """Federated averaging (McMahan et al. 2017) simulated in one process."""

    clients: int | None = option(None, help="federated averaging over this many simulated clients K (default: "
                                 "central training)")
    client_split: str = option("iid", help=f"how cases go to clients: {', '.join(CLIENT_SPLITS)} (non-IID: "
                               "sorted by class or by mean brightness)")
    client_fraction: float = option(1.0, help="share C of the clients that train in each round")
    local_epochs: int = option(1, help="epochs E each chosen client trains on its own cases per round")

    def __post_init__(self):
        if self.clients is not None:
            whole(self.clients, "clients", 2)
        one_of(self.client_split, "client_split", CLIENT_SPLITS)
        if not (isinstance(self.client_fraction, (int, float)) and 0 < self.client_fraction <= 1):
            raise PixelwiseError(f"client_fraction={self.client_fraction} must lie in (0, 1], e.g. 0.5.")
        whole(self.local_epochs, "local_epochs")

    @property
    def enabled(self) -> bool:
        return self.clients is not None


@dataclass
class AdversarialConfig:
    """Adversarial training (Goodfellow et al. 2015; Madry et al. 2018): every batch's loss is (1 - w) L(x) + w
    L(x_adv), x_adv an L-infinity attack of radius epsilon on the current network."""

    adversarial: str | None = option(None, help=f"adversarial training with {' or '.join(ATTACKS)} examples "
                                     "(default: none)")
    epsilon: float = option(2 / 255, parse=fraction, help="adversarial training: L-infinity radius in [0, 1] pixel "
                            "units, e.g. 2/255 (default 2/255)")
    adv_steps: int = option(5, help="adversarial training: PGD steps")
    adv_step_size: float | None = option(None, parse=fraction, help="adversarial training: PGD step size (default "
                                         "2.5 epsilon / steps, Madry et al.)")
    adv_weight: float = option(0.5, help="adversarial training: weight w of the adversarial loss; 1 - w goes to "
                               "the clean loss")

    def __post_init__(self):
        one_of(self.adversarial, "adversarial", (*ATTACKS, None))
        _positive(self.epsilon, "epsilon", "2/255")
        _positive(self.adv_step_size, "adv_step_size", "0.002")
        whole(self.adv_steps, "adv_steps")
        if not (isinstance(self.adv_weight, (int, float)) and 0 < self.adv_weight <= 1):
            raise PixelwiseError(f"adv_weight={self.adv_weight} must lie in (0, 1], e.g. 0.5.")

    @property
    def enabled(self) -> bool:
        return self.adversarial is not None


def check_combination(config) -> None:
    """The rules across the three and the loop's settings, for a config holding some of them (by field name)."""
    privacy = getattr(config, "privacy", None)
    federated = getattr(config, "federated", None)
    robust = getattr(config, "robustness", None)
    dp, fed, adv = (x is not None and x.enabled for x in (privacy, federated, robust))
    if adv and (dp or fed):
        raise PixelwiseError("adversarial training (--adversarial) cannot be combined with DP-SGD or federated "
                             "averaging here; train with one of them.")
    if (dp or fed or adv) and getattr(config, "compile", False):
        raise PixelwiseError("--compile does not apply to DP-SGD, federated or adversarial training (their steps "
                             "call the network themselves); drop --compile.")
    if (dp or fed or adv) and getattr(config, "precision", "32") != "32":
        raise PixelwiseError("DP-SGD, federated and adversarial training make their gradients themselves, in float32; "
                             "drop --precision (or use --precision 32).")
    if dp and privacy.dp_epsilon is not None and getattr(config, "minutes", None) is not None:
        raise PixelwiseError("dp_epsilon (--dp-epsilon) calibrates the noise to a known number of steps; give "
                             "--epochs instead of --minutes, or give --dp-noise.")
