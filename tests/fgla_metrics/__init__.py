"""Tests of fgla_model.metrics. Their networks have random weights: real scores need the real files."""
import torch
from torch import nn


def randomly_initialised(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights that keep activations at scale through a deep network; random batch-norm statistics.

    He-normal convolutions (PyTorch's default init shrinks activations layer after layer until a deep
    network's features are round-off), and batch-norm buffers away from their defaults so that a test
    loading them from a file sees whether they arrived.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Conv3d)):
                layer.weight.normal_(0, (2 / layer.weight[0].numel()) ** 0.5, generator=generator)
            if isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm3d)):
                layer.running_mean.normal_(0, 0.05, generator=generator)
                layer.running_var.uniform_(0.8, 1.2, generator=generator)
                layer.bias.normal_(0, 0.05, generator=generator)
    return module.eval()
