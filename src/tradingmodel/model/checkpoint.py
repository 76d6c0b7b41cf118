"""Checkpoint directories: weights, scaling statistics, config, feature list, data range and data hash.

Layout of ``train --out DIR``::

    DIR/manifest.json          {"format": 1, "pooled": false, "symbols": {"AAPL": "AAPL", ...}}
    DIR/<SYMBOL>/ or DIR/pooled/
        model.pt               state_dict of the network
        meta.json              everything needed to rebuild inputs and to refuse a mismatch
        config.toml            the model config, human-readable

Every file is written to a temporary name and renamed into place, so an interrupted save never leaves a
half-written checkpoint that would load.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from pydantic import ValidationError

from tradingmodel.config import AppConfig, ModelConfig, config_to_toml
from tradingmodel.data.bars import symbol_digest
from tradingmodel.model.network import LSTMRegressor, build_network
from tradingmodel.model.windows import N_FEATURES, Scaler, feature_names

FORMAT_VERSION = 1
# Keys that change the network or its inputs; a checkpoint is refused when these differ from what is expected.
ARCH_KEYS = ("sequence_length", "hidden_size", "num_layers")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the current features / config."""


@dataclass
class SymbolMeta:
    """What a checkpoint knows about one of its symbols."""

    scaler: Scaler
    data_hash: str
    split_ts: dict[str, list[str]]  # part -> [first bar ts, last bar ts] (ISO, UTC)
    bars: int
    ar_coef: list[float]  # AR baseline on returns: [intercept, b_1..b_p], b_1 on the latest return
    calibration: list[float]  # [a, b]: confidence = sigmoid(a + b * |standardised prediction|)

    def to_json(self) -> dict[str, Any]:
        return {
            "scaler": self.scaler.to_json(),
            "data_hash": self.data_hash,
            "split_ts": self.split_ts,
            "bars": self.bars,
            "ar_coef": self.ar_coef,
            "calibration": self.calibration,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SymbolMeta:
        return cls(
            Scaler.from_json(d["scaler"]),
            d["data_hash"],
            d["split_ts"],
            int(d["bars"]),
            [float(v) for v in d["ar_coef"]],
            [float(v) for v in d["calibration"]],
        )


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode, CPU) and its metadata."""

    path: Path
    config: ModelConfig
    net: LSTMRegressor
    symbols: dict[str, SymbolMeta]
    pooled: bool
    info: dict[str, Any]  # best_epoch, history, interrupted, data_range, versions


def data_hash(bars_of_symbol: pd.DataFrame) -> str:
    """SHA-256 of one symbol's timestamps and OHLCV values (the data a checkpoint was trained on)."""
    return symbol_digest(bars_of_symbol)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: Path,
    net: torch.nn.Module,
    cfg: ModelConfig,
    symbols: dict[str, SymbolMeta],
    pooled: bool,
    info: dict[str, Any],
) -> Path:
    """Write a checkpoint directory atomically (built in a temp dir, then renamed over ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    try:
        tmp.chmod(0o755)
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        torch.save(state, tmp / "model.pt")
        meta = {
            "format": FORMAT_VERSION,
            "feature_names": list(feature_names()),
            "config": cfg.model_dump(),
            "pooled": pooled,
            "symbols": {s: m.to_json() for s, m in symbols.items()},
            "torch": torch.__version__,
            **info,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        (tmp / "config.toml").write_text(config_to_toml(AppConfig(model=cfg)))
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_manifest(out_dir: Path, pooled: bool, dirs: dict[str, Path]) -> None:
    """The top-level index of a training output directory (written last)."""
    rel = {s: os.path.relpath(p, out_dir) for s, p in dirs.items()}
    _write_atomic(
        Path(out_dir) / "manifest.json",
        json.dumps({"format": FORMAT_VERSION, "pooled": pooled, "symbols": rel}, indent=1).encode(),
    )


DAMAGED = "retrain the model or restore the file from a backup"


def _read_json(path: Path, what: str) -> Any:
    """A checkpoint's JSON file; a damaged one (not UTF-8, not JSON) is a :class:`CheckpointError` naming it."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: damaged {what} (not valid JSON: {e}); {DAMAGED}") from None


def resolve_model_dir(model_dir: str | Path) -> dict[str, Path]:
    """Symbol -> checkpoint directory, for a ``train --out`` directory or a single checkpoint directory."""
    d = Path(model_dir)
    if (d / "manifest.json").is_file():
        man = _read_json(d / "manifest.json", "manifest")
        try:
            return {s: d / p for s, p in man["symbols"].items()}
        except (KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{d / 'manifest.json'}: corrupt manifest ({e}); {DAMAGED}") from None
    if (d / "meta.json").is_file():
        meta = _read_json(d / "meta.json", "metadata")
        try:
            return {s: d for s in meta["symbols"]}
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{d / 'meta.json'}: corrupt metadata ({e}); {DAMAGED}") from None
    if not d.exists():
        raise CheckpointError(f"model directory not found: {d}")
    raise CheckpointError(f"{d}: not a model directory (no manifest.json or meta.json)")


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    """``model.pt`` as a state dict, tensors only (``weights_only``: a checkpoint never runs code).

    A damaged file (empty, truncated, overwritten) raises :class:`CheckpointError` naming it; torch's own
    message is left out because it suggests loading with ``weights_only=False``, which is unsafe."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"{path.parent}: no model.pt") from None
    if size == 0:
        raise CheckpointError(f"{path}: damaged weights file (empty, 0 bytes); {DAMAGED}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any failure to unpickle means the file is damaged
        raise CheckpointError(
            f"{path}: damaged weights file ({size:,} bytes that are not a readable PyTorch "
            f"checkpoint: truncated or overwritten); {DAMAGED}"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: damaged weights file (holds a {type(state).__name__}, not weights); {DAMAGED}")
    return state


def load_checkpoint(path: str | Path, expect: ModelConfig | None = None) -> Checkpoint:
    """Load one checkpoint directory; refuse a mismatched feature list, config or weights with a clear error.

    ``expect``: when given, the checkpoint's architecture keys (:data:`ARCH_KEYS`) must equal it.
    """
    p = Path(path)
    if not (p / "meta.json").is_file():
        raise CheckpointError(f"{p}: no meta.json (not a checkpoint directory)")
    meta = _read_json(p / "meta.json", "metadata")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p / 'meta.json'}: damaged metadata (not a JSON object); {DAMAGED}")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{p}: checkpoint format {meta.get('format')!r}, expected {FORMAT_VERSION}")
    names = tuple(meta.get("feature_names", ()))
    if names != feature_names():
        raise CheckpointError(
            f"{p}: feature list {list(names)} does not match this version's {list(feature_names())}; retrain the model"
        )
    try:
        cfg = ModelConfig.model_validate(meta["config"])
    except (ValidationError, KeyError) as e:
        raise CheckpointError(f"{p}: stored config is not valid: {e}") from None
    if expect is not None:
        diff = [
            f"{k}: checkpoint {getattr(cfg, k)} != expected {getattr(expect, k)}"
            for k in ARCH_KEYS
            if getattr(cfg, k) != getattr(expect, k)
        ]
        if diff:
            raise CheckpointError(f"{p}: config mismatch: " + "; ".join(diff))
    net = build_network(cfg, N_FEATURES)
    state = _load_weights(p / "model.pt")
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{p}: weights do not match the stored config ({str(e).splitlines()[0]})") from None
    net.eval()
    try:
        symbols = {s: SymbolMeta.from_json(m) for s, m in meta["symbols"].items()}
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{p}: corrupt symbol metadata ({e})") from None
    info = {k: v for k, v in meta.items() if k not in ("symbols", "config", "feature_names", "format")}
    return Checkpoint(p, cfg, net, symbols, bool(meta.get("pooled", False)), info)
