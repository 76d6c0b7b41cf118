"""The numba twin of ``_lstm.c``: the same operations in the same order, for machines without the C build.

Each window runs on its own (no state shared between rows), every sum runs over k = 0, 1, ... with one fused
multiply-add per term (LLVM's ``llvm.fma``, rounded once as C's ``fmaf``; numba contracts nothing else without
``fastmath``), so the bits equal the C kernel's and do not depend on the batch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

_FM = {"nnan", "ninf", "nsz"}  # no reassociation, no contraction: values as IEEE single precision gives them
_LIM = np.float32(7.90531110763549805)
_P = tuple(
    np.float32(v)
    for v in (
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    )
)
_Q = tuple(
    np.float32(v) for v in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
)


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (IEEE fma: a hardware instruction where there is one, libm's exact fmaf else)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def _tanh(x):
    x = _LIM if x > _LIM else x
    x = -_LIM if x < -_LIM else x
    x2 = x * x
    p = _P[0]
    p = x2 * p + _P[1]
    p = x2 * p + _P[2]
    p = x2 * p + _P[3]
    p = x2 * p + _P[4]
    p = x2 * p + _P[5]
    p = x2 * p + _P[6]
    p = x * p
    q = _Q[0]
    q = x2 * q + _Q[1]
    q = x2 * q + _Q[2]
    q = x2 * q + _Q[3]
    return p / q


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _acc(a, w, out):
    """out[j] += sum_k a[k] * w[k, j], k ascending, one fused multiply-add per term."""
    for k in range(w.shape[0]):
        v = a[k]
        wk = w[k]
        for j in range(out.shape[0]):
            out[j] = _fma(v, wk[j], out[j])


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _window(x, wih0t, wiht, whht, bias, hw, hb):
    L = x.shape[0]
    H = whht.shape[1]
    G = 4 * H
    pre = np.empty((L, G), np.float32)
    seq = np.empty((L, H), np.float32)
    g = np.empty(G, np.float32)
    h = np.zeros(H, np.float32)
    c = np.zeros(H, np.float32)
    half = np.float32(0.5)
    for layer in range(whht.shape[0]):
        for t in range(L):
            pre[t, :] = bias[layer]
            if layer == 0:
                _acc(x[t], wih0t, pre[t])
            else:
                _acc(seq[t], wiht[layer - 1], pre[t])
        h[:] = 0
        c[:] = 0
        for t in range(L):
            g[:] = pre[t]
            _acc(h, whht[layer], g)
            for j in range(H):
                ig = half * _tanh(half * g[j]) + half
                fg = half * _tanh(half * g[H + j]) + half
                gg = _tanh(g[2 * H + j])
                og = half * _tanh(half * g[3 * H + j]) + half
                cc = fg * c[j] + ig * gg
                c[j] = cc
                hh = og * _tanh(cc)
                h[j] = hh
                seq[t, j] = hh
    acc = hb
    for j in range(H):
        acc += h[j] * hw[j]
    return acc


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def forward(x, wih0t, wiht, whht, bias, hw, hb, out):
    """out[i] = the network's output for window x[i] (x: (n, L, I) float32)."""
    for i in range(x.shape[0]):
        out[i] = _window(x[i], wih0t, wiht, whht, bias, hw, hb)
