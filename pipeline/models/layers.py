"""Layers shared by the models."""
from torch import nn


def mlp(sizes, activation=nn.Softplus):
    """Linear layers of the given sizes with `activation` between them (none after the last)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)
