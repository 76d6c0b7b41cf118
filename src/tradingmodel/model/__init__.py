"""The LSTM price model: windows, training, checkpoints, prediction and honest evaluation.

Public API::

    train(bars, cfg, out_dir, *, symbols=None, pooled=False, progress=True) -> TrainResult
    predict(model_dir, bars) -> DataFrame[symbol, timestamp, predicted_close, confidence]
    evaluate(model_dir, bars, *, split="auto", return_frame=False) -> dict | (dict, DataFrame)
    load_checkpoint(path, expect=None) -> Checkpoint
"""

from tradingmodel.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from tradingmodel.model.predict import evaluate, predict
from tradingmodel.model.train import TrainResult, train

__all__ = ["Checkpoint", "CheckpointError", "TrainResult", "evaluate", "load_checkpoint", "predict", "train"]
