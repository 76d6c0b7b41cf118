"""Use cases with explicit inputs and typed results, called by the CLI and the API (never each other).

* :mod:`.inputs`: load bars from a bar file or the database, in US regular hours (``load_input_bars``).
* :mod:`.modeling`: train (progress and stop hooks), evaluate, predict to a file.
* :mod:`.backtesting`: backtest a model or a predictions file, recorded as a run.
* :mod:`.demo`: simulate → train → evaluate → backtest → run folder.
* :mod:`.recording`: store a real-time bar stream.
* :mod:`.records`: a run's folder and its database rows (``runs``, ``models``, ``training_jobs``), one call.
* :mod:`.checks`: the in-sample check of a backtest.
* :mod:`.bars`: a keyset-paginated page of stored bars with the five indicators; stored bars for a model.
* :mod:`.predict`: the next-close prediction, its confidence and the strategy's entry decision with reasons.
* :mod:`.portfolio`: the book of the running or last paper session, from the money tables.
* :mod:`.training`: training jobs (submit, cancel, run with progress and a cancel flag, recover).
* :mod:`.status`: models beside their baselines, the active model per symbol, jobs.

Errors the caller can act on are :class:`ServiceError` subclasses (``ValueError``) carrying an HTTP-like
``status`` (422 invalid, 404 not found, 409 conflict), so the API maps them to that status and the CLI
to one ``error:`` line. See ``docs/services.md``.
"""

from tradingmodel.services.errors import Conflict, Invalid, NotFound, ServiceError

__all__ = ["Conflict", "Invalid", "NotFound", "ServiceError"]
