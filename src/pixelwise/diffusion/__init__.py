"""DDPM diffusion (layer 0: pure maths on tensors): noise schedules, the forward process, the posterior,
ancestral sampling steps and the epsilon objective (Ho, Jain and Abbeel, "Denoising Diffusion
Probabilistic Models", NeurIPS 2020; cosine schedule: Nichol and Dhariwal, "Improved Denoising Diffusion
Probabilistic Models", ICML 2021; classifier-free guidance: Ho and Salimans, "Classifier-Free Diffusion
Guidance", 2022; DDIM: Song, Meng and Ermon, ICLR 2021; predictor-corrector sampling: Song et al., ICLR 2021)."""

from pixelwise.diffusion.corrector import langevin_correct
from pixelwise.diffusion.ddim import ddim_sample, ddim_step, ddim_timesteps
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

__all__ = ["SCHEDULES", "NoiseSchedule", "StepOutput", "ddim_sample", "ddim_step", "ddim_timesteps", "drop_labels",
           "epsilon_loss", "guided_epsilon", "langevin_correct", "min_snr_weights", "sample", "step"]
