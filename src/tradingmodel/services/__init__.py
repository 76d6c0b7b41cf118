"""Use cases with explicit inputs and typed results, called by the API (and, later, by the CLI).

* :mod:`.bars`: a keyset-paginated page of stored bars with the five indicators; stored bars for a model.
* :mod:`.predict`: the next-close prediction, its confidence and the strategy's entry decision with reasons.
* :mod:`.portfolio`: the book of the running or last paper session, from the money tables.
* :mod:`.training`: training jobs (submit, cancel, run with progress and a cancel flag, recover).
* :mod:`.status`: models beside their baselines, the active model per symbol, jobs.

Errors the caller can act on are :class:`ServiceError` subclasses carrying an HTTP-like ``kind``
(``not_found``, ``invalid``, ``conflict``), so the API maps them to 404/422/409 and a CLI to one line.
"""

from tradingmodel.services.errors import Conflict, Invalid, NotFound, ServiceError

__all__ = ["Conflict", "Invalid", "NotFound", "ServiceError"]
