"""The network: stacked LSTM over a window of normalised features, linear head on the last step."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from tradingmodel.config import ModelConfig


class LSTMRegressor(nn.Module):
    """``n_features`` inputs -> ``num_layers`` LSTM layers of ``hidden_size`` -> 1 output per window.

    The output is the standardised next-bar return (see :mod:`tradingmodel.model.windows`).
    """

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(
            n_features, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, seq, features) -> (batch,)."""
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :]).squeeze(-1)


def build_network(cfg: ModelConfig, n_features: int) -> LSTMRegressor:
    """The network described by a model config."""
    return LSTMRegressor(n_features, cfg.hidden_size, cfg.num_layers, cfg.dropout)


def lstm_flops_per_sample(n_features: int, hidden: int, layers: int, seq_len: int) -> float:
    """Multiply-add FLOPs (x2) of one window forward pass through the LSTM and head."""
    per_step = 0.0
    inp = n_features
    for _ in range(layers):
        per_step += 2.0 * 4 * hidden * (inp + hidden)
        inp = hidden
    return per_step * seq_len + 2.0 * hidden


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a generator for shuffling. CPU runs are then reproducible."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
