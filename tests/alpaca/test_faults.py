"""Each fault switch of the fake, through the real alpaca-py client: nothing placed twice, no fill applied twice,
positions equal the broker's."""

from __future__ import annotations

import asyncio

from alpaca.trading.client import TradingClient

from tests.alpaca.support import config, drain, entry, executor, run, until
from tradingmodel.execution.alpaca.fake import FakeAlpaca
from tradingmodel.execution.alpaca.wire import order_request


async def _fill_once(ex, fake: FakeAlpaca, price: float = 101.0, symbol: str = "AAA") -> None:  # noqa: ANN001
    fake.price({symbol: price})
    await until(lambda: fake.positions().get(symbol) is not None or not fake.book.orders, what="broker fill")


def test_accepted_but_504_is_looked_up_not_placed_again(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            fake.accept_then_504()
            order = entry("AAA", 10)
            up = await ex.submit(order)
            assert up.status == "submitted" and up.broker_order_id
            assert fake.order_count(order.client_order_id) == 1 == fake.order_count()
            posts = [r for r in fake.requests if r[0] == "POST" and r[1] == "/v2/orders"]
            assert [s for *_, s in posts] == [504]  # answered by a lookup, not a second POST
            await _fill_once(ex, fake)
            await until(lambda: ex.queue.qsize() == 1, what="fill")
            assert await ex.positions() == fake.positions() == {"AAA": 10.0}

    run(go())


def test_duplicate_client_order_id_is_fetched_not_refused(fake: FakeAlpaca) -> None:
    """The client's own 504 retry shape: the id is already at the broker, the POST answers 422 "must be unique"."""
    order = entry("AAA", 5)
    bare = TradingClient(fake.key_id, fake.secret_key, paper=True, url_override=fake.base_url)

    async def go() -> None:
        async with executor(fake) as ex:
            placed = bare.submit_order(order_request(order, 5, bracket=False))  # after start: unknown to ex
            up = await ex.submit(order)
            assert up.broker_order_id == str(placed.id) and up.status == "submitted"
            assert any(s == 422 for m, p, s in fake.requests if m == "POST")
            assert fake.order_count(order.client_order_id) == 1

    run(go())


def test_stalled_post_times_out_and_the_same_id_is_placed_once(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake, call_timeout_s=0.5) as ex:
            fake.hang_next(1.5, orders_only=True)  # the POST is served (and would place) only after our deadline
            order = entry("BBB", 3)
            up = await ex.submit(order)
            assert up.status == "submitted"
            await asyncio.sleep(1.5)  # the stalled POST now arrives: refused as a duplicate
            assert fake.order_count(order.client_order_id) == 1 == fake.order_count()

    run(go())


def test_rest_429_is_waited_out(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            fake.fail_next(429, 2)
            up = await ex.submit(entry("AAA", 1))
            assert up.status == "submitted" and fake.order_count() == 1

    run(go())


def test_replayed_fills_after_reconnect_are_applied_once(fake: FakeAlpaca) -> None:
    fake.stream.replay_fills_on_reconnect = True

    async def go() -> None:
        async with executor(fake) as ex:
            await ex.submit(entry("AAA", 10))
            await _fill_once(ex, fake)
            await until(lambda: ex.queue.qsize() == 1, what="first fill")
            fake.stream.drop()
            await until(lambda: ex.reconnects == 1 and ex.ready.is_set(), what="reconnect")
            await until(lambda: fake.stream.stats["replayed"] >= 1, what="replay")
            await asyncio.sleep(0.3)
            fills = await drain(ex)
            assert len(fills) == 1 and fills[0].quantity == 10
            assert ex.book == fake.positions() == {"AAA": 10.0}

    run(go())


def test_stream_dropped_mid_fill_is_reconciled_from_activities(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10)
            await ex.submit(order)
            fake.stream.drop_on_next_fill = True
            await _fill_once(ex, fake)
            await until(lambda: ex.queue.qsize() == 1, what="the lost fill, from reconciliation")
            assert fake.stream.stats["lost_events"] >= 1 and ex.reconnects == 1
            fills = await drain(ex)
            assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 10)]
            assert fills[0].fill_id == fake.book.activities[0]["id"].split("::")[1]  # same id as the stream's
            assert await ex.positions() == ex.book == {"AAA": 10.0}

    run(go())


def test_silent_stream_past_the_heartbeat_is_restarted_and_reconciled(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake, heartbeat_s=0.6) as ex:
            fake.stream.silent = True
            await ex.submit(entry("AAA", 4))
            await _fill_once(ex, fake)
            await until(lambda: ex.queue.qsize() == 1, timeout=8, what="fill via the heartbeat's reconciliation")
            fake.stream.silent = False
            await until(lambda: ex.restarts == 1 and ex.ready.is_set(), timeout=8, what="stream restart")
            assert len(await drain(ex)) == 1 and ex.book == {"AAA": 4.0}

    run(go())


def test_order_actions_wait_while_the_stream_is_refused_429(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            fake.stream.reject_handshakes(3)
            fake.stream.drop()
            await until(lambda: not ex.ready.is_set(), what="stream down")
            task = asyncio.create_task(ex.submit(entry("BBB", 2)))
            await asyncio.sleep(0.1)
            assert not task.done() and fake.order_count() == 0  # waits for the stream
            up = await asyncio.wait_for(task, 10)
            assert up.status == "submitted" and fake.stream.stats["refused_429"] >= 3
            assert fake.order_count() == 1 and ex.reconnects == 1

    run(go())


def test_partial_fills_are_sized_per_execution(fake: FakeAlpaca) -> None:
    fake.book.partial_chunks = 3

    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10)
            await ex.submit(order)
            for px in (101.0, 102.0, 103.0):
                fake.price({"AAA": px})
            await until(lambda: ex.queue.qsize() == 3, what="three executions")
            fills = await drain(ex)
            assert [(f.quantity, f.price) for f in fills] == [(3, 101.0), (3, 102.0), (4, 103.0)]
            final = await ex.get_order(order.client_order_id)
            assert final is not None and final.status == "filled" and final.filled_quantity == 10
            assert abs(final.filled_avg_price - (3 * 101 + 3 * 102 + 4 * 103) / 10) < 1e-9
            assert await ex.positions() == {"AAA": 10.0}

    run(go())


def test_close_cancels_a_partial_bracket_entry_and_an_oco_protects_what_filled(fake: FakeAlpaca) -> None:
    fake.book.partial_chunks = 3

    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10, stop_loss=95.0, take_profit=110.0)
            await ex.submit(order)
            fake.price({"AAA": 100.0})
            await until(lambda: ex.queue.qsize() == 1, what="partial fill")
            fake.book.close_market()
            sl = f"{order.client_order_id}-sl"  # was the bracket's stop leg (canceled), becomes the OCO's stop
            await until(
                lambda: fake.order_count(f"{order.client_order_id}-oco") == 1 and ex.orders[sl]["status"] == "new",
                what="OCO for the partial",
            )
            up = await ex.get_order(order.client_order_id)
            assert up is not None and up.status == "canceled" and up.filled_quantity == 3
            assert fake.positions() == {"AAA": 3.0}
            fake.book.clock_open = True
            fake.price({"AAA": 94.0})  # the OCO's stop fires at the broker
            await until(lambda: fake.positions() == {}, what="stop fill")
            await until(lambda: ex.queue.qsize() == 2, what="stop fill on the stream")
            stop_fill = (await drain(ex))[-1]
            assert stop_fill.client_order_id == f"{order.client_order_id}-sl" and stop_fill.quantity == 3

    run(go())


def test_buying_power_403_is_rejected_with_the_message_and_not_retried(fake: FakeAlpaca) -> None:
    fake.book.buying_power_override = 0.0

    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10)
            up = await ex.submit(order)
            assert up.status == "rejected" and up.message == "insufficient buying power"
            posts = sum(1 for m, p, _ in fake.requests if m == "POST")
            assert (await ex.submit(order)).status == "rejected"
            assert sum(1 for m, p, _ in fake.requests if m == "POST") == posts == 1
            assert await ex.positions() == {} and ex.book == {} and ex.queue.empty()

    run(go())


def test_invalid_quantity_422_is_rejected_with_the_broker_message(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            up = await ex.submit(entry("AAA", 0))
            assert up.status == "rejected" and up.message == "qty must be > 0"
            assert fake.order_count() == 0 and await ex.positions() == {}

    run(go())


def test_an_oco_leg_replaces_its_bracket_leg_before_that_legs_cancel_event_arrives(fake: FakeAlpaca) -> None:
    """The race the close test above hits under load, made deterministic: the OCO's stop leg is stored under
    the bracket stop's name while the bracket stop's own cancel event is still on the way; that late event
    must update the retired leg, never the live one (which an engine exit must find and cancel)."""
    from tradingmodel.execution.alpaca.executor import AlpacaExecutor

    ex = AlpacaExecutor(config(fake))
    old = {"id": "b-1", "client_order_id": "x-sl", "symbol": "AAA", "status": "new", "filled_qty": "0"}
    ex.merge("x-sl", old)
    new = {"id": "o-1", "client_order_id": "x-oco-sl", "symbol": "AAA", "status": "new", "filled_qty": "0"}
    ex.merge("x-sl", new)  # an unannounced second live order under the name: the first one is kept
    assert ex.orders["x-sl"]["id"] == "b-1"
    ex.merge("x-sl", new, replaces=True)  # placed by the executor itself for the canceled bracket
    assert ex.orders["x-sl"]["id"] == "o-1" and ex.orders["x-sl-prev"]["id"] == "b-1"
    ex.on_event({"event": "canceled", "order": {**old, "status": "canceled"}})  # the late cancel of the old leg
    assert ex.orders["x-sl"]["id"] == "o-1" and ex.orders["x-sl"]["status"] == "new"
    assert ex.orders["x-sl-prev"]["status"] == "canceled"
