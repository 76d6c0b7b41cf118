"""AlpacaExecutor against the fake through the real alpaca-py client: placing, filling, refusing."""

from __future__ import annotations

from tests.alpaca.support import drain, entry, executor, run, until
from tradingmodel.execution.alpaca.fake import FakeAlpaca


def test_market_order_fills_on_the_next_price_once(fake: FakeAlpaca) -> None:
    async def go() -> None:
        async with executor(fake) as ex:
            order = entry("AAA", 10)
            up = await ex.submit(order)
            assert up.status == "submitted" and up.broker_order_id
            assert fake.positions() == {}  # nothing fills before the next price
            fake.price({"AAA": 101.0})
            await until(lambda: ex.queue.qsize() == 1, what="the fill on the stream")
            fills = await drain(ex)
            assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [(order.client_order_id, 10, 101.0)]
            assert await ex.positions() == {"AAA": 10.0} == fake.positions()
            again = await ex.submit(order)
            assert again.status == "filled" and fake.order_count(order.client_order_id) == 1

    run(go())
