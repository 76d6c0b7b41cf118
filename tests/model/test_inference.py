"""The inference kernel: bits independent of the batch, the C and numba builds equal, close to torch."""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import pytest
import torch

from tradingmodel.model import inference
from tradingmodel.model.inference import LSTMKernel, default_backend
from tradingmodel.model.network import LSTMRegressor

# (inputs, hidden, layers): the default network, one layer, a hidden size whose gates (4 x 20 = 80) leave a
# column tail outside the kernel's 64-wide tiles, three layers, an odd hidden size (halves of 3 and 4 units)
SHAPES = [(5, 128, 2), (5, 8, 1), (5, 20, 3), (3, 7, 2)]


def _net(i: int, h: int, layers: int, seed: int = 0) -> LSTMRegressor:
    torch.manual_seed(seed)
    return LSTMRegressor(i, h, layers).eval()


def _windows(n: int, i: int, seed: int = 1, length: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, length, i)).astype(np.float32)


def _c_or_skip() -> None:
    if inference._c_library() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the C LSTM kernel is not built (make install builds it with the machine's C compiler)")
        pytest.skip("the C LSTM kernel is not built here (no C compiler at install time)")


@pytest.mark.parametrize("shape", SHAPES)
def test_a_window_gets_the_same_bits_alone_in_any_batch_and_on_threads(shape: tuple[int, int, int]) -> None:
    net = _net(*shape)
    k = LSTMKernel(net)
    x = _windows(37, shape[0])
    whole = k(x)
    alone = np.array([k(x[j : j + 1])[0] for j in range(len(x))])
    np.testing.assert_array_equal(alone, whole)
    for a, b in ((0, 2), (3, 8), (5, 21)):  # batches of 2, 5 and 16 cut anywhere
        np.testing.assert_array_equal(k(x[a:b]), whole[a:b])
    np.testing.assert_array_equal(k(x, threads=2), whole)
    np.testing.assert_array_equal(k(x, threads=5), whole)


@pytest.mark.parametrize("shape", SHAPES)
def test_c_and_numba_builds_give_the_same_bits(shape: tuple[int, int, int]) -> None:
    _c_or_skip()
    net = _net(*shape, seed=3)
    x = _windows(21, shape[0], seed=4)
    c, nb = LSTMKernel(net, "c")(x), LSTMKernel(net, "numba")(x)
    assert c.dtype == nb.dtype == np.float32
    np.testing.assert_array_equal(c, nb)


@pytest.mark.parametrize("shape", SHAPES)
def test_outputs_equal_torch_up_to_float_rounding(shape: tuple[int, int, int]) -> None:
    net = _net(*shape, seed=5)
    x = _windows(64, shape[0], seed=6) * 3.0  # inputs well outside [-1, 1]: saturating gates included
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    got = LSTMKernel(net)(x)
    assert np.abs(ref).max() > 0.05  # the comparison is not between two near-zero vectors
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)
    assert np.ptp(got) > 1e-3  # the outputs depend on the window


def test_the_kernel_follows_the_weights_it_was_built_from() -> None:
    a, b = _net(5, 8, 1, seed=7), _net(5, 8, 1, seed=8)
    x = _windows(4, 5)
    assert not np.array_equal(LSTMKernel(a)(x), LSTMKernel(b)(x))


def test_bad_windows_and_bad_backend_are_named() -> None:
    k = LSTMKernel(_net(5, 8, 1))
    with pytest.raises(ValueError, match=r"\(n, L, 5\)"):
        k(np.zeros((3, 60), np.float32))
    with pytest.raises(ValueError, match=r"\(n, L, 5\)"):
        k(np.zeros((3, 60, 4), np.float32))
    assert k(np.zeros((0, 60, 5), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="backend must be one of c, numba"):
        LSTMKernel(_net(5, 8, 1), "blas")


def test_the_environment_can_force_the_numba_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADINGMODEL_LSTM_KERNEL", "numba")
    assert default_backend() == "numba"
    assert LSTMKernel(_net(5, 8, 1)).backend == "numba"
    monkeypatch.setenv("TRADINGMODEL_LSTM_KERNEL", "gpu")
    with pytest.raises(ValueError, match="TRADINGMODEL_LSTM_KERNEL must be one of c, numba, got 'gpu'"):
        default_backend()


def test_weights_start_on_a_cache_line_whatever_numpy_gave() -> None:
    """The kernel loads a weight row 64 bytes at a time: every weight array starts on a 64-byte boundary (a
    straddling load cost 1.6x on one window), and the copy holds the same values."""
    net = _net(5, 128, 2)
    for _ in range(5):  # numpy's own allocations land on 16-byte boundaries, some off the line
        k = LSTMKernel(net)
        for name in ("wih0t", "wiht", "whht", "bias", "hw"):
            a = getattr(k, name)
            assert a.ctypes.data % 64 == 0 and a.flags.c_contiguous, name
        w = net.lstm.weight_hh_l1.detach().numpy().T
        assert np.array_equal(k.whht[1], inference._halves(w, 128) if k.backend == "c" else w)


def _until_split(k: LSTMKernel, x: np.ndarray, seconds: float = 5.0) -> None:
    """Call ``k`` on one window until a call runs on two threads: the worker sleeps after 10 ms without a
    call, and a call that finds it asleep runs alone (and wakes it)."""
    lib = inference._c_library()
    assert lib is not None
    n, end = lib.lstm_split_calls(), time.monotonic() + seconds
    while lib.lstm_split_calls() == n:
        assert time.monotonic() < end, f"no call ran on two threads in {seconds} s"
        k(x[:1], threads=2)


def test_the_c_layout_is_a_permutation_of_the_gate_columns_in_unit_halves() -> None:
    """Gate q of unit u sits in half p (u < hidden // 2 or not) at 4 * start(p) + q * size(p) + offset."""
    for hidden in (128, 7, 8):
        cols = np.arange(4 * hidden)[None, :]
        got = inference._halves(cols, hidden)[0]
        cut = hidden // 2
        for q in range(4):
            for u in range(hidden):
                start, size = (0, cut) if u < cut else (cut, hidden - cut)
                assert got[4 * start + q * size + (u - start)] == q * hidden + u
        assert sorted(got) == list(range(4 * hidden))


@pytest.mark.parametrize("shape", SHAPES)
def test_few_windows_on_two_threads_get_the_bits_of_one_thread(shape: tuple[int, int, int]) -> None:
    """Up to 4 windows run on two threads, each computing half of the hidden units (one barrier per step):
    the same bits as one thread; two callers at once (one gets the worker, the other runs alone) too."""
    _c_or_skip()
    net = _net(*shape, seed=5)
    k = LSTMKernel(net, "c")
    x = _windows(9, shape[0], seed=6)
    whole = k(x)
    lib = inference._c_library()
    assert lib is not None
    _until_split(k, x)
    before = lib.lstm_split_calls()
    for n in (1, 2, 3, 4):
        for a in range(0, 9 - n, 2):
            np.testing.assert_array_equal(k(x[a : a + n], threads=2), whole[a : a + n])
    assert lib.lstm_split_calls() > before  # the path ran (the worker spins 10 ms after each call)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda j: k(x[j % 9 : j % 9 + 1], threads=2)[0], range(300)))
    np.testing.assert_array_equal(np.array(got), whole[np.arange(300) % 9])


def test_a_late_worker_leaves_the_window_to_the_caller() -> None:
    """A worker that does not take its job within 50 us (its vCPU descheduled, say) is not waited for: the
    caller runs the window alone, the worker skips it, and the next calls pair up again; bits unchanged."""
    _c_or_skip()
    lib = inference._c_library()
    assert lib is not None
    k = LSTMKernel(_net(5, 32, 2, seed=7), "c")
    x = _windows(3, 5, seed=8)
    want = k(x)
    _until_split(k, x)  # the worker runs and spins
    n = lib.lstm_split_calls()
    lib.lstm_stall_worker(300_000)  # 300 ms late for its next job
    t0 = time.perf_counter()
    np.testing.assert_array_equal(k(x[:1], threads=2), want[:1])
    assert time.perf_counter() - t0 < 0.15 and lib.lstm_split_calls() == n  # ran alone: did not wait 300 ms
    time.sleep(0.35)  # the worker wakes, skips the job it lost, spins 10 ms, sleeps
    got = [k(x[j : j + 1], threads=2)[0] for j in (0, 1, 2) * 20]
    np.testing.assert_array_equal(np.array(got), np.tile(want, 20))
    _until_split(k, x)  # and pairs up again


def _in_forked_child(f) -> bytes:
    """``f()``'s bytes computed in a child of fork(), or b"" when the child answers nothing in 30 s."""
    import select
    import signal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(w, f())
        finally:
            os._exit(0)
    os.close(w)
    got = b""
    while select.select([r], [], [], 30)[0] and (chunk := os.read(r, 64)):
        got += chunk
    os.close(r)
    if not got:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return got


def test_the_two_thread_path_works_in_a_forked_child() -> None:
    """The worker thread does not survive fork(): a child starts its own, from a fresh barrier (else it waits
    forever). Forked after an odd and after an even number of calls: a call passes an odd number of
    barriers, so one of the two forks finds the caller's barrier sense flipped."""
    _c_or_skip()
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    k = LSTMKernel(_net(5, 16, 2), "c")
    x = _windows(1, 5)
    want = k(x, threads=2).tobytes()  # the parent's worker runs
    lib = inference._c_library()
    assert lib is not None

    def child() -> bytes:
        n = lib.lstm_split_calls()
        for _ in range(2000):  # the first call starts the child's worker; soon a call runs on two threads
            got = k(x, threads=2).tobytes()
            if lib.lstm_split_calls() > n:
                return got
        return b"not on two threads"

    for _ in range(2):
        assert _in_forked_child(child) == want, "the child got no result in 30 s, or not on two threads"
        k(x, threads=2)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_instruction_set_build_gives_the_same_bits(shape: tuple[int, int, int]) -> None:
    """The C kernel's AVX-512, AVX2 + FMA and portable builds (tiles of other widths, the same sums in the same
    order, each term one fused multiply-add) give the same bits; those this CPU cannot run are skipped."""
    _c_or_skip()
    lib = inference._c_library()
    net = _net(*shape, seed=9)
    x = _windows(23, shape[0], seed=10)
    k = LSTMKernel(net, "c")
    try:
        assert lib.lstm_use(1)
        portable = k(x)
        ran = []
        for which in (2, 3):
            if lib.lstm_use(which):
                ran.append(which)
                np.testing.assert_array_equal(k(x), portable)
    finally:
        lib.lstm_use(0)
    np.testing.assert_array_equal(k(x), portable)
    if os.environ.get("CI") == "true" and platform.machine() == "x86_64":
        assert 2 in ran  # an x86-64 machine of the last decade has AVX2 + FMA
