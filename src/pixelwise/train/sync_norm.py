"""Batch normalisation over the global batch of several CPU processes (gloo), where torch's SyncBatchNorm does
not run (it needs CUDA).

Batch normalisation (Ioffe & Szegedy 2015) normalises each channel by the mean and variance of the batch. With the
batch split among N processes, each process sees only its shard; :class:`GlobalBatchNorm` sums each channel's
values, and then its squared deviations (each shard's variance about its own mean, moved to the global mean:
Chan, Golub & LeVeque 1979), over all processes (two all-reduces of C + 1 and C numbers), so that every process
normalises with the statistics of the whole batch, applied as one multiply-add per value:

    mu = sum_r sum_i x_ri / n,   var = sum_r sum_i (x_ri - mu)^2 / n,   y = (x - mu) / sqrt(var + eps) * w + b

(n: the values of the channel in the whole batch; the running variance is updated with the unbiased
``var n / (n - 1)``, as in torch's BatchNorm). The all-reduces are differentiable (:class:`_SumOverProcesses`:
the adjoint of a sum over processes is a sum over processes of the gradients), so the gradient of each
process's loss reaches every process's inputs through the shared statistics: with DDP averaging the parameter
gradients, N processes with B/N samples each take the step of one process with batch B. In evaluation, and in a
single process, it is the ordinary BatchNorm.
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm1d/2d/3d whose training statistics are those of the batch of every process (see the module)."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"GlobalBatchNorm expects (N, C, ...) input, got {x.dim()} dimensions.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not self.training or not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        all_reduce = _SumOverProcesses.apply
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        local_var, local_mean = torch.var_mean(x, dims, correction=0)  # one fused pass over the shard
        n = x.new_tensor([x.numel() // x.shape[1]])
        total = all_reduce(torch.cat([local_mean * n, n]))
        count = total[-1]
        mean = total[:-1] / count
        # the shards' squared deviations about the global mean (Chan, Golub & LeVeque 1979): n_r (var_r + (mu_r - mu)^2)
        var = all_reduce(n * (local_var + (local_mean - mean) ** 2)) / count
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale = scale * self.weight
        shift = -mean * scale + (self.bias if self.affine else 0)
        y = torch.addcmul(shift.view(shape), x, scale.view(shape))  # (x - mu) / sqrt(var + eps) * w + b, one pass
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * count / (count - 1).clamp(min=1))
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased: torch.Tensor) -> None:
        """torch's rule: an exponential average with ``momentum``, or with momentum None the cumulative mean."""
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)

    @classmethod
    def convert(cls, module: nn.Module) -> nn.Module:
        """Every BatchNorm layer of ``module`` replaced, in place, by a GlobalBatchNorm holding the same parameter
        and buffer objects (an optimizer built before still updates them), ``module`` itself returned, converted
        if it is one."""
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, cls):
            new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
            for name, value in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
                setattr(new, name, value)
            new.train(module.training)
            return new
        for name, child in module.named_children():
            converted = cls.convert(child)
            if converted is not child:
                module.add_module(name, converted)
        return module


class _SumOverProcesses(torch.autograd.Function):
    """``y = sum_r x_r`` on every process r; backward: ``dx_r = sum_q dy_q`` (the gradients of every process's
    loss with respect to the shared sum)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        summed = grad.contiguous().clone()
        dist.all_reduce(summed)
        return summed
