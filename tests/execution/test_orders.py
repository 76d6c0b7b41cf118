"""The order state machine and deterministic client order ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradingmodel.execution.orders import TERMINAL, TRANSITIONS, OrderStateError, advance, can_advance, client_order_id


def test_happy_paths() -> None:
    assert advance("x", "new", "submitted") == "submitted"
    assert advance("x", "submitted", "partially_filled") == "partially_filled"
    assert advance("x", "partially_filled", "partially_filled") == "partially_filled"
    assert advance("x", "partially_filled", "filled") == "filled"


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_never_move(state: str) -> None:
    for new in TRANSITIONS:
        assert not can_advance(state, new)
    with pytest.raises(OrderStateError, match=f"order abc: cannot move from '{state}' to 'submitted'"):
        advance("abc", state, "submitted")


def test_no_move_backwards_or_to_unknown() -> None:
    assert not can_advance("submitted", "new")
    assert not can_advance("partially_filled", "submitted")
    assert not can_advance("partially_filled", "rejected")  # part of it executed: it is not a rejection
    with pytest.raises(OrderStateError, match="unknown order status 'done'"):
        can_advance("new", "done")


def test_client_order_ids_are_deterministic_and_distinct() -> None:
    t = datetime(2024, 1, 2, 14, 31, tzinfo=UTC)
    a = client_order_id("s1", t, "aapl", "entry")
    assert a == client_order_id("s1", t, "AAPL", "entry")  # same decision after a restart: same id
    others = {
        client_order_id("s2", t, "AAPL", "entry"),
        client_order_id("s1", t, "MSFT", "entry"),
        client_order_id("s1", t, "AAPL", "stop_loss"),
        client_order_id("s1", t, "AAPL", "entry", 1),
        client_order_id("s1", datetime(2024, 1, 2, 14, 32, tzinfo=UTC), "AAPL", "entry"),
    }
    assert a not in others and len(others) == 5
    assert len(a) <= 48 and a.replace("-", "").isalnum() and a == a.lower()
