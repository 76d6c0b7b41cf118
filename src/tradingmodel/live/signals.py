"""Why a bar did or did not lead to an entry: the entry rules one by one, the decision, the rejection.

Mirrors :func:`tradingmodel.strategy.core.entry_signal` (which decides; this only explains) for the
``signals`` JSON of ``predictions`` and the ``signal`` events.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tradingmodel.strategy import layout as L


def explain(
    row: np.ndarray, p: np.ndarray, decided: str | None, rejection: str | None, in_position: bool
) -> dict[str, Any]:
    """The ``signal`` event / ``predictions.signals`` JSON for one symbol's slice row ``row`` (``mkt[s]``)."""
    c, pred, rsi = row[L.K_CLOSE], row[L.K_PRED], row[L.K_RSI]
    vol, vavg, rstd = row[L.K_VOLUME], row[L.K_VOLAVG], row[L.K_RETSTD]
    if p[L.P_SIGMA] > 0:
        up, down = c * (1.0 + p[L.P_BUY_TH] * rstd), c * (1.0 - p[L.P_SELL_TH] * rstd)
    else:
        up, down = c * (1.0 + p[L.P_BUY_TH] * 0.01), c * (1.0 - p[L.P_SELL_TH] * 0.01)
    finite = not any(math.isnan(x) for x in (c, pred, rsi, vavg, up, down))
    rules = {
        "threshold_long": bool(finite and pred > up),
        "threshold_short": bool(finite and pred < down),
        "rsi_long": bool(finite and rsi < p[L.P_RSI_OB]),
        "rsi_short": bool(finite and rsi > p[L.P_RSI_OS]),
        "volume": bool(finite and vol > p[L.P_VOL_MULT] * vavg),
    }
    signal = "none"
    if rules["volume"] and rules["threshold_long"] and rules["rsi_long"]:
        signal = "long"
    elif rules["volume"] and p[L.P_ALLOW_SHORT] > 0 and rules["threshold_short"] and rules["rsi_short"]:
        signal = "short"
    if decided == "entry":
        decision = "entry"
    elif decided is not None:
        decision = "exit"
    elif rejection is not None:
        decision = "rejected"
    else:
        decision = "hold" if in_position else "none"
    return {"signal": signal, "rules": rules, "decision": decision, "rejection": rejection}
