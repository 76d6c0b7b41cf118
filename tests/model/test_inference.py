"""The inference kernel: bits independent of the batch, the C and numba builds equal, close to torch."""

from __future__ import annotations

import os
import platform

import numpy as np
import pytest
import torch

from tradingmodel.model import inference
from tradingmodel.model.inference import LSTMKernel, default_backend
from tradingmodel.model.network import LSTMRegressor

# (inputs, hidden, layers): the default network, one layer, a hidden size whose gates (4 x 20 = 80) leave a
# column tail outside the kernel's 64-wide tiles, three layers
SHAPES = [(5, 128, 2), (5, 8, 1), (5, 20, 3)]


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
        assert np.array_equal(k.whht[1], w)


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
