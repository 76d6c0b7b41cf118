/* The LSTM regressor's forward pass for inference (see tradingmodel/model/inference.py).

Every output element is computed in one fixed order whatever the batch: a gate pre-activation starts at the
bias (b_ih + b_hh), adds the input terms then the recurrent terms for k = 0, 1, ..., each a fused multiply-add
(IEEE fma, rounded once; everything else is built with -ffp-contract=off, so the compiler fuses nothing on its
own), so a window gets the same bits alone or in any batch, on any instruction set the dispatcher picks. The
numba kernel in _lstm_numba.py does the same operations in the same order; the tests hold the two equal bit
for bit. Loaded with ctypes (the GIL is
released for the call); the module itself exports nothing to Python. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define X86 1
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

#define TR 4
/* C[i][j] += sum_k A[i][k] * W[k][j], k ascending, each term one fused multiply-add (fmaf: rounded once, so the
   same bits on every instruction set and in the numba twin's llvm.fma). Tiles of TR rows x NQ vectors of VL
   columns are held in registers over k; rows and columns left over go one at a time, in the same order. Three
   builds of this body (AVX-512, AVX2 + FMA, portable) differ in tile width only, never in a sum's order. */
#define MM_BODY(V, VL, NQ, LOAD, STORE, BCAST, VFMA)                                                              \
    int i = 0;                                                                                                    \
    for (; i + TR <= rows; i += TR) {                                                                             \
        int jb = 0;                                                                                               \
        for (; jb + VL * NQ <= G; jb += VL * NQ) {                                                                \
            V acc[TR][NQ];                                                                                        \
            for (int r = 0; r < TR; r++)                                                                          \
                for (int q = 0; q < NQ; q++) acc[r][q] = LOAD(C + (size_t)(i + r) * ldc + jb + VL * q);           \
            for (int k = 0; k < K; k++) {                                                                         \
                V w[NQ];                                                                                          \
                for (int q = 0; q < NQ; q++) w[q] = LOAD(W + (size_t)k * G + jb + VL * q);                        \
                for (int r = 0; r < TR; r++) {                                                                    \
                    V a = BCAST(A[(size_t)(i + r) * lda + k]);                                                    \
                    for (int q = 0; q < NQ; q++) acc[r][q] = VFMA(a, w[q], acc[r][q]);                            \
                }                                                                                                 \
            }                                                                                                     \
            for (int r = 0; r < TR; r++)                                                                          \
                for (int q = 0; q < NQ; q++) STORE(C + (size_t)(i + r) * ldc + jb + VL * q, acc[r][q]);           \
        }                                                                                                         \
        for (; jb < G; jb++)                                                                                      \
            for (int r = 0; r < TR; r++) {                                                                        \
                float s = C[(size_t)(i + r) * ldc + jb];                                                          \
                for (int k = 0; k < K; k++) s = fmaf(A[(size_t)(i + r) * lda + k], W[(size_t)k * G + jb], s);    \
                C[(size_t)(i + r) * ldc + jb] = s;                                                                \
            }                                                                                                     \
    }                                                                                                             \
    for (; i < rows; i++) {                                                                                       \
        int jb = 0;                                                                                               \
        for (; jb + VL * NQ <= G; jb += VL * NQ) {                                                                \
            V acc[NQ];                                                                                            \
            for (int q = 0; q < NQ; q++) acc[q] = LOAD(C + (size_t)i * ldc + jb + VL * q);                        \
            for (int k = 0; k < K; k++) {                                                                         \
                V a = BCAST(A[(size_t)i * lda + k]);                                                              \
                for (int q = 0; q < NQ; q++) acc[q] = VFMA(a, LOAD(W + (size_t)k * G + jb + VL * q), acc[q]);     \
            }                                                                                                     \
            for (int q = 0; q < NQ; q++) STORE(C + (size_t)i * ldc + jb + VL * q, acc[q]);                        \
        }                                                                                                         \
        for (; jb < G; jb++) {                                                                                    \
            float s = C[(size_t)i * ldc + jb];                                                                    \
            for (int k = 0; k < K; k++) s = fmaf(A[(size_t)i * lda + k], W[(size_t)k * G + jb], s);              \
            C[(size_t)i * ldc + jb] = s;                                                                          \
        }                                                                                                         \
    }

typedef void (*mm_fn)(const float *, int, const float *, float *, int, int, int, int);
#define MM_ARGS const float *A, int lda, const float *W, float *C, int ldc, int rows, int K, int G

#define S_LOAD(p) (*(p))
#define S_STORE(p, v) (*(p) = (v))
#define S_BCAST(a) (a)
static void mm_portable(MM_ARGS) { MM_BODY(float, 1, 4, S_LOAD, S_STORE, S_BCAST, fmaf) }

#ifdef X86
__attribute__((target("avx512f"))) static void mm_avx512(MM_ARGS) {
    MM_BODY(__m512, 16, 4, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps)
}
__attribute__((target("avx2,fma"))) static void mm_avx2(MM_ARGS) {
    MM_BODY(__m256, 8, 2, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps)
}
#endif

static mm_fn mm_pick(void) {
#ifdef X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return mm_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return mm_avx2;
#endif
    return mm_portable;
}
static mm_fn mm_acc_impl;
/* Tests: run the multiply-accumulate of build `which` (0 the dispatcher's pick, 1 portable, 2 AVX2 + FMA,
   3 AVX-512); returns 0 when this CPU cannot run it. */
int lstm_use(int which) {
    mm_fn f = which == 0 ? mm_pick() : which == 1 ? mm_portable : NULL;
#ifdef X86
    if (which == 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f = mm_avx2;
    if (which == 3 && __builtin_cpu_supports("avx512f")) f = mm_avx512;
#endif
    if (f) mm_acc_impl = f;
    return f != NULL;
}
static void mm_acc(MM_ARGS) {
    if (!mm_acc_impl) mm_acc_impl = mm_pick(); /* a race only stores the same pointer twice */
    mm_acc_impl(A, lda, W, C, ldc, rows, K, G);
}

/* tanh as a rational function on [-7.9, 7.9] (clamped outside), good to a few float ulps. */
static inline float tanh_r(float x) {
    const float lim = 7.90531110763549805f;
    x = x > lim ? lim : x;
    x = x < -lim ? -lim : x;
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = x2 * p + 2.00018790482477e-13f;
    p = x2 * p + -8.60467152213735e-11f;
    p = x2 * p + 5.12229709037114e-08f;
    p = x2 * p + 1.48572235717979e-05f;
    p = x2 * p + 6.37261928875436e-04f;
    p = x2 * p + 4.89352455891786e-03f;
    p = x * p;
    float q = 1.19825839466702e-06f;
    q = x2 * q + 1.18534705686654e-04f;
    q = x2 * q + 2.26843463243900e-03f;
    q = x2 * q + 4.89352518554385e-03f;
    return p / q;
}
/* n floats on a 64-byte boundary (the tiles load and store 64 bytes at a time). */
static float *amalloc(size_t n) { return aligned_alloc(64, (sizeof(float) * n + 63) / 64 * 64); }
/* Outputs out[n] of n windows. x [n][L][I]; wih0T [I][G]; wihT [layers-1][H][G]; whhT [layers][H][G]; bias [layers][G]; returns -1 when out of memory. */
CLONES int lstm_forward(const float *x, int n, int L, int I, int H, int layers, const float *wih0T, const float *wihT,
                  const float *whhT, const float *bias, const float *hw, float hb, float *out) {
    int G = 4 * H;
    const float half = 0.5f;
    for (int r0 = 0; r0 < n; r0 += TR) {
        int R = n - r0 < TR ? n - r0 : TR;
        float *pre = amalloc((size_t)R * L * G);
        float *seq = amalloc((size_t)R * L * H);
        float *g = amalloc((size_t)R * G);
        float *h = amalloc((size_t)R * H);
        float *c = amalloc((size_t)R * H);
        if (!pre || !seq || !g || !h || !c) {
            free(pre); free(seq); free(g); free(h); free(c);
            return -1;
        }
        for (int layer = 0; layer < layers; layer++) {
            for (int rt = 0; rt < R * L; rt++) memcpy(pre + (size_t)rt * G, bias + (size_t)layer * G, sizeof(float) * G);
            if (layer == 0) mm_acc(x + (size_t)r0 * L * I, I, wih0T, pre, G, R * L, I, G);
            else mm_acc(seq, H, wihT + (size_t)(layer - 1) * H * G, pre, G, R * L, H, G);
            memset(h, 0, sizeof(float) * R * H);
            memset(c, 0, sizeof(float) * R * H);
            const float *Wh = whhT + (size_t)layer * H * G;
            for (int t = 0; t < L; t++) {
                for (int r = 0; r < R; r++) memcpy(g + (size_t)r * G, pre + ((size_t)r * L + t) * G, sizeof(float) * G);
                mm_acc(h, H, Wh, g, G, R, H, G);
                for (int r = 0; r < R; r++) {
                    float *gr = g + (size_t)r * G, *cr = c + (size_t)r * H, *hr = h + (size_t)r * H;
                    float *sr = seq + ((size_t)r * L + t) * H;
                    for (int j = 0; j < H; j++) {
                        float ig = half * tanh_r(half * gr[j]) + half;
                        float fg = half * tanh_r(half * gr[H + j]) + half;
                        float gg = tanh_r(gr[2 * H + j]);
                        float og = half * tanh_r(half * gr[3 * H + j]) + half;
                        float cc = fg * cr[j] + ig * gg;
                        cr[j] = cc;
                        float hh = og * tanh_r(cc);
                        hr[j] = hh;
                        sr[j] = hh;
                    }
                }
            }
        }
        for (int r = 0; r < R; r++) {
            float acc = hb;
            for (int j = 0; j < H; j++) acc = acc + h[(size_t)r * H + j] * hw[j];
            out[r0 + r] = acc;
        }
        free(pre); free(seq); free(g); free(h); free(c);
    }
    return 0;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lstm", "LSTM inference kernel (loaded with ctypes).", -1, NULL};

PyMODINIT_FUNC PyInit__lstm(void) { return PyModule_Create(&module); }
