"""DDPM diffusion (layer 0: pure maths on tensors): noise schedules, the forward process, the posterior,
ancestral sampling steps and the epsilon objective (Ho, Jain and Abbeel, "Denoising Diffusion
Probabilistic Models", NeurIPS 2020; cosine schedule: Nichol and Dhariwal, "Improved Denoising Diffusion
Probabilistic Models", ICML 2021)."""

from pixelwise.diffusion.ddpm import StepOutput, epsilon_loss, min_snr_weights, sample, step
from pixelwise.diffusion.schedule import SCHEDULES, NoiseSchedule

__all__ = ["SCHEDULES", "NoiseSchedule", "StepOutput", "epsilon_loss", "min_snr_weights", "sample", "step"]
