"""REST routes for models and training jobs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from tradingmodel.api import schemas
from tradingmodel.api.routes_data import ERRORS, secured
from tradingmodel.services import status as status_service
from tradingmodel.services import training

router = APIRouter(responses=ERRORS, dependencies=secured, tags=["model"])
JobId = Annotated[int, Path(ge=1, le=2**62)]


@router.post("/api/v1/model/train", status_code=202, response_model=schemas.JobAccepted)
def train(request: Request, body: schemas.TrainRequest) -> dict[str, Any]:
    """Queue a training job (run by a worker process); answers at once with its id."""
    engine = request.app.state.engine
    req = training.check_request(engine, body.symbols, body.start, body.end, body.params, body.timeframe)
    job_id = training.submit(engine, req, request.app.state.cfg.app_config.trading)
    job = training.get_job(engine, job_id)
    return {"job_id": job_id, "status": job["status"], "job": job}


@router.get("/api/v1/model/jobs/{job_id}", response_model=schemas.Job)
def get_job(request: Request, job_id: JobId) -> dict[str, Any]:
    """One training job with its progress."""
    return training.get_job(request.app.state.engine, job_id)


@router.delete("/api/v1/model/jobs/{job_id}", response_model=schemas.Job)
def cancel_job(request: Request, job_id: JobId) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one at its next batch (409 when it has ended)."""
    return training.cancel(request.app.state.engine, job_id)


@router.get("/api/v1/model/status", response_model=schemas.ModelStatus)
def model_status(
    request: Request,
    jobs: Annotated[int, Query(ge=0, le=1000, description="newest jobs")] = 50,
) -> dict[str, Any]:
    """Models with their metrics beside the baselines, the active model per symbol, the newest jobs."""
    return asdict(status_service.model_status(request.app.state.engine, jobs))
