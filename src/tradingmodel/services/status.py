"""Models and jobs at a glance: every registered model with its evaluation, the active model per symbol
(the one predictions use by default) and the newest training jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tradingmodel.services.predict import active_model
from tradingmodel.store import list_models, list_training_jobs

MAX_MODELS = 1000


@dataclass
class ModelStatus:
    """Models (newest first) with their metrics beside the baselines, ``active`` symbol → model id, jobs."""

    models: list[dict[str, Any]] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)


def model_status(engine: Engine, jobs: int = 50) -> ModelStatus:
    """The registry's state: up to :data:`MAX_MODELS` models, the active one per symbol, ``jobs`` newest jobs."""
    models = list_models(engine, limit=MAX_MODELS)
    symbols = sorted({s for m in models for s in (m["symbols"] or [])})
    active = {s: int(m["id"]) for s in symbols if (m := active_model(engine, s)) is not None}
    return ModelStatus(models, active, list_training_jobs(engine, limit=jobs) if jobs else [])
