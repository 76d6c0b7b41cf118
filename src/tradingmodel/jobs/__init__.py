"""Background training: worker processes that run ``training_jobs`` rows (see :mod:`.worker`), started and
stopped with the API server by :class:`WorkerPool`. A separate process, so training never stalls the API's
event loop or its GIL."""

from tradingmodel.jobs.pool import WorkerPool

__all__ = ["WorkerPool"]
