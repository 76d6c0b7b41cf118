"""Before trading, protective legs at the broker, positions as the truth, the live-money guard."""

from __future__ import annotations

import pytest

from tests.alpaca.support import BAR, config, drain, entry, executor, exit_order, run, until
from tradingmodel.config import Settings
from tradingmodel.execution.alpaca.executor import AlpacaExecutor
from tradingmodel.execution.alpaca.fake import FakeAlpaca
from tradingmodel.execution.alpaca.settings import config_from_settings, stream_url_for
from tradingmodel.execution.base import Executor, ExecutorError
from tradingmodel.execution.orders import OrderRequest, client_order_id


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ("inactive", "is INACTIVE, not ACTIVE"),
        ("blocked", "is blocked from trading"),
        ("closed", "the market is closed"),
        ("keys", "Alpaca refused the keys"),
    ],
)
def test_start_refuses_an_account_that_cannot_trade(fake: FakeAlpaca, switch: str, message: str) -> None:
    cfg = config(fake)
    if switch == "inactive":
        fake.book.account_status = "INACTIVE"
    elif switch == "blocked":
        fake.book.trading_blocked = True
    elif switch == "closed":
        fake.book.clock_open = False
    else:
        cfg = config(fake, key_id="nope")
    with pytest.raises(ExecutorError, match=message):
        run(AlpacaExecutor(cfg).start())


def test_fractional_entries_go_as_simple_market_orders_and_shorts_in_whole_shares(fake: FakeAlpaca) -> None:
    """APCA_ALLOW_FRACTIONAL: the executor holds no legs (the engine emulates them); a long may be fractional and
    goes without legs even when the entry names its stop and target; a short sale is floored to whole shares,
    refused below one; an exit (an emulated stop here) never sells more than the broker holds."""
    fake.book.add_asset("CCC", fractionable=False)

    async def go() -> None:
        async with executor(fake, allow_fractional=True) as ex:
            assert ex.holds_protective_orders is False and ex.fractional is True
            order = entry("AAA", 2.5, stop_loss=95.0, take_profit=110.0)
            assert (await ex.submit(order)).status == "submitted"
            short = await ex.submit(entry("BBB", 3.7, side="sell"))
            tiny = await ex.submit(entry("BBB", 0.6, side="sell", seq=1))
            whole = await ex.submit(entry("CCC", 1.5, seq=2))
            assert short.status == "submitted" and whole.status == "submitted"
            assert tiny.status == "rejected"
            assert tiny.message == (
                "quantity 0.6 is below one whole share (Alpaca does not sell fractional shares short)"
            )
            placed = {o.cid: o for o in fake.book.orders.values()}
            assert {c: (o.qty, o.order_class, o.legs) for c, o in placed.items()} == {
                order.client_order_id: (2.5, "", []),
                short.client_order_id: (3.0, "", []),
                whole.client_order_id: (1.0, "", []),
            }
            fake.price({"AAA": 100.0, "BBB": 100.0, "CCC": 100.0})
            await until(lambda: ex.book == {"AAA": 2.5, "BBB": -3.0, "CCC": 1.0}, what="the entry fills")
            stop = OrderRequest(
                client_order_id("test", BAR, "AAA", "stop_loss"), "AAA", "sell", 4.0, "market", "stop_loss", BAR
            )
            assert (await ex.submit(stop)).status == "submitted"
            assert fake.book.by_client_id(stop.client_order_id).qty == 2.5  # capped at the broker's position
            fake.price({"AAA": 94.0})
            await until(lambda: "AAA" not in ex.book, what="the emulated stop's fill")
            assert fake.positions() == {"BBB": -3.0, "CCC": 1.0}

    run(go())


def test_untradable_and_unshortable_symbols_are_rejected_before_sending(fake: FakeAlpaca) -> None:
    fake.book.add_asset("CCC", tradable=False)
    fake.book.add_asset("DDD", shortable=False)

    async def go() -> None:
        async with executor(fake) as ex:
            assert isinstance(ex, Executor)
            a = await ex.submit(entry("CCC", 1))
            b = await ex.submit(entry("DDD", 1, side="sell"))
            c = await ex.submit(entry("ZZZ", 1))
            assert a.status == b.status == c.status == "rejected"
            assert "CCC is not tradable" in a.message and "DDD cannot be sold short" in b.message
            assert "ZZZ: Alpaca does not know this symbol" in c.message
            assert fake.order_count() == 0

    run(go())


def test_bracket_legs_fire_at_the_broker_and_report_deterministic_ids(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10, stop_loss=95.0, take_profit=110.0)
            await ex.submit(order)
            sl, tp = f"{order.client_order_id}-sl", f"{order.client_order_id}-tp"
            assert {sl, tp} <= set(ex.orders)
            fake.price({"AAA": 100.0})
            await until(lambda: ex.book == {"AAA": 10.0}, what="entry fill")
            fake.price({"AAA": 111.0})  # the take-profit fires; the stop is canceled with it
            await until(lambda: ex.book == {} and ex.orders[sl]["status"] == "canceled", what="target fill")
            fills = await drain(ex)
            assert [(f.client_order_id, f.side, f.quantity) for f in fills] == [
                (order.client_order_id, "buy", 10),
                (tp, "sell", 10),
            ]
            resent = await ex.submit(exit_order("AAA", 10, "sell", parent=order.client_order_id))
            assert resent.status == "rejected" and fake.positions() == {}  # never reverses a closed position

    run(go())


def test_an_engine_exit_cancels_the_legs_first(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10, stop_loss=95.0, take_profit=110.0)
            await ex.submit(order)
            fake.price({"AAA": 100.0})
            await until(lambda: ex.book == {"AAA": 10.0}, what="entry fill")
            up = await ex.submit(exit_order("AAA", 10, "sell", parent=order.client_order_id))
            assert up.status == "submitted"  # not 403 "insufficient qty": the legs released the shares
            assert ex.orders[f"{order.client_order_id}-sl"]["status"] == "canceled"
            fake.price({"AAA": 100.5})
            await until(lambda: fake.positions() == {} and ex.book == {}, what="exit fill")

    run(go())


def test_a_position_change_nothing_explains_stops_the_executor(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            await ex.submit(entry("AAA", 10))
            fake.price({"AAA": 100.0})
            await until(lambda: ex.book == {"AAA": 10.0}, what="fill")
            fake.book.positions["AAA"][0] = 7.0  # shares gone without any execution
            with pytest.raises(ExecutorError, match="position mismatch in AAA: the broker holds 7 shares.* 10"):
                await ex.reconcile()
            with pytest.raises(ExecutorError, match="position mismatch in AAA"):
                await ex.submit(entry("BBB", 1))
            with pytest.raises(ExecutorError, match="in BBB: the broker holds 0 shares, the engine 2"):
                await ex.verify_positions({"AAA": 7.0, "BBB": 2.0})

    run(go())


def test_a_restart_sees_earlier_fills_and_open_orders(fake: FakeAlpaca) -> None:
    async def go() -> None:
        order = entry("AAA", 10, stop_loss=95.0, take_profit=110.0)
        async with executor(fake) as first:
            await first.submit(order)
            fake.price({"AAA": 100.0})
            await until(lambda: first.book == {"AAA": 10.0}, what="fill")
        async with executor(fake) as second:
            assert second.book == {"AAA": 10.0}
            fills = await second.fills_since(None)
            assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 10)]
            assert {u.client_order_id for u in await second.open_orders()} == {
                f"{order.client_order_id}-tp",
                f"{order.client_order_id}-sl",
            }
            assert (await second.submit(order)).status == "filled" and fake.order_count() == 1
            fake.price({"AAA": 94.0})
            await until(lambda: second.book == {}, what="stop fill after the restart")
            assert (await second.get_order(f"{order.client_order_id}-sl")).status == "filled"

    run(go())


def test_live_money_needs_the_live_command_and_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    paper = config_from_settings(Settings())
    assert paper.base_url == "https://paper-api.alpaca.markets" and not paper.live
    assert paper.stream_url == "wss://paper-api.alpaca.markets/stream" == stream_url_for(paper.base_url)
    with pytest.raises(ExecutorError, match="refusing to trade a live-money Alpaca account without --confirm-live"):
        config_from_settings(Settings(), live=True)
    live = config_from_settings(Settings(), live=True, confirm_live=True)
    assert live.base_url == "https://api.alpaca.markets" and live.live
    monkeypatch.setenv("APCA_API_BASE_URL", "https://api.alpaca.markets")
    with pytest.raises(ExecutorError, match="is a live-money endpoint"):
        config_from_settings(Settings())
    monkeypatch.setenv("APCA_API_KEY_ID", "")
    with pytest.raises(ExecutorError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY must be set"):
        config_from_settings(Settings())
