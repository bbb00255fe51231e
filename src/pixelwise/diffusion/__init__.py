"""DDPM diffusion (layer 0: pure maths on tensors): noise schedules, the forward process, the posterior,
ancestral sampling steps and the epsilon objective (Ho, Jain and Abbeel, "Denoising Diffusion
Probabilistic Models", NeurIPS 2020; cosine schedule: Nichol and Dhariwal, "Improved Denoising Diffusion
Probabilistic Models", ICML 2021; classifier-free guidance: Ho and Salimans, "Classifier-Free Diffusion
Guidance", 2022)."""

from pixelwise.diffusion.ddpm import (
    StepOutput,
    drop_labels,
    epsilon_loss,
    guided_epsilon,
    min_snr_weights,
    sample,
    step,
)
from pixelwise.diffusion.schedule import SCHEDULES, NoiseSchedule

__all__ = ["SCHEDULES", "NoiseSchedule", "StepOutput", "drop_labels", "epsilon_loss", "guided_epsilon",
           "min_snr_weights", "sample", "step"]
