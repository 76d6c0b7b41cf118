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
#include <time.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

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
                for (int q = 0; q < NQ; q++) w[q] = LOAD(W + (size_t)k * ldw + jb + VL * q);                        \
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
                for (int k = 0; k < K; k++) s = fmaf(A[(size_t)(i + r) * lda + k], W[(size_t)k * ldw + jb], s);  \
                C[(size_t)(i + r) * ldc + jb] = s;                                                                \
            }                                                                                                     \
    }                                                                                                             \
    for (; i < rows; i++) {                                                                                       \
        int jb = 0;                                                                                               \
        for (; jb + 2 * VL * NQ <= G; jb += 2 * VL * NQ) {                                                        \
            V acc[2 * NQ];                                                                                        \
            for (int q = 0; q < 2 * NQ; q++) acc[q] = LOAD(C + (size_t)i * ldc + jb + VL * q);                    \
            for (int k = 0; k < K; k++) {                                                                         \
                V a = BCAST(A[(size_t)i * lda + k]);                                                              \
                for (int q = 0; q < 2 * NQ; q++) acc[q] = VFMA(a, LOAD(W + (size_t)k * ldw + jb + VL * q), acc[q]); \
            }                                                                                                     \
            for (int q = 0; q < 2 * NQ; q++) STORE(C + (size_t)i * ldc + jb + VL * q, acc[q]);                    \
        }                                                                                                         \
        for (; jb + VL * NQ <= G; jb += VL * NQ) {                                                                \
            V acc[NQ];                                                                                            \
            for (int q = 0; q < NQ; q++) acc[q] = LOAD(C + (size_t)i * ldc + jb + VL * q);                        \
            for (int k = 0; k < K; k++) {                                                                         \
                V a = BCAST(A[(size_t)i * lda + k]);                                                              \
                for (int q = 0; q < NQ; q++) acc[q] = VFMA(a, LOAD(W + (size_t)k * ldw + jb + VL * q), acc[q]);   \
            }                                                                                                     \
            for (int q = 0; q < NQ; q++) STORE(C + (size_t)i * ldc + jb + VL * q, acc[q]);                        \
        }                                                                                                         \
        for (; jb < G; jb++) {                                                                                    \
            float s = C[(size_t)i * ldc + jb];                                                                    \
            for (int k = 0; k < K; k++) s = fmaf(A[(size_t)i * lda + k], W[(size_t)k * ldw + jb], s);            \
            C[(size_t)i * ldc + jb] = s;                                                                          \
        }                                                                                                         \
    }

typedef void (*mm_fn)(const float *, int, const float *, int, float *, int, int, int, int);
/* C (rows x G, row stride ldc) += A (rows x K, stride lda) W (K x G, stride ldw) */
#define MM_ARGS const float *A, int lda, const float *W, int ldw, float *C, int ldc, int rows, int K, int G

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
    mm_acc_impl(A, lda, W, ldw, C, ldc, rows, K, G);
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
/* The linear head on a window's last hidden state h: hb + h . hw, j ascending (a multiply then an add). */
static inline float head(const float *h, const float *hw, float hb, int H) {
    float acc = hb;
    for (int j = 0; j < H; j++) acc = acc + h[j] * hw[j];
    return acc;
}

/* The gate columns come in two halves of the hidden units (see inference.py, _halves): half p holds units
   [u0, u1) as four blocks of m = u1 - u0 columns (input, forget, cell, output gate), so a half is contiguous.
   One cell update of half [u0, u1): gates g (its four blocks, gate q of unit u0 + j at g[q * m + j]), and the
   units' state c, output h and layer output s (all three indexed from u0). */
static inline void cell(const float *restrict g, float *restrict c, float *restrict h, float *restrict s, int m) {
    const float half = 0.5f;
    for (int j = 0; j < m; j++) {
        float ig = half * tanh_r(half * g[j]) + half;
        float fg = half * tanh_r(half * g[m + j]) + half;
        float gg = tanh_r(g[2 * m + j]);
        float og = half * tanh_r(half * g[3 * m + j]) + half;
        float cc = fg * c[j] + ig * gg;
        c[j] = cc;
        float hh = og * tanh_r(cc);
        h[j] = hh;
        s[j] = hh;
    }
}

/* Up to TR windows on two threads: each computes the gates of half of the hidden units (all four gates of a
   unit, so its cell update is its own), the halves meet at one barrier per step (h is double-buffered: step t
   reads one copy and writes the other). Every element is the same sum in the same order as on one thread,
   so the bits are the same; what changes is that each core streams half of the weights per step (one window
   is bound by the L2 read rate: each step reads a layer's whole recurrent matrix). The worker is a thread of
   this library, started on first use (see worker()). One caller at a time: a concurrent call takes the
   one-thread path. */
typedef struct {
    const float *x, *wih0T, *wihT, *whhT, *bias;
    int n, L, I, H, layers;
    float *pre, *seq, *hb, *c, *g, *zero;
} job_t;

static job_t job;
static atomic_int busy;                   /* a caller holds the two-thread path */
static atomic_int posted;                 /* generation of the job posted to the worker */
static atomic_int taken;                  /* the posted job: 0 open, 1 taken by the worker, 2 by the caller */
static atomic_int arrived, sense;         /* the barrier */
enum { W_NONE, W_SPIN, W_CLAIMED, W_SLEEP };
static atomic_int wstate;                 /* the worker: not started, spinning, claimed by a caller, asleep */
static atomic_int wake_gen;               /* bumped to wake a sleeping worker */
static atomic_long split_calls;           /* calls that ran on two threads (for the tests) */
static atomic_int stall_us;               /* tests: the worker waits this long before taking its next job */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
#define SPIN_NS 10000000                  /* a worker spins this long for the next job, then sleeps */
#define TAKE_NS 50000                     /* a caller waits this long for the worker to take its job */

static inline void relax(void) {
#ifdef X86
    _mm_pause();
#endif
}

static void barrier(int *mine) {
    int s = !*mine;
    *mine = s;
    if (atomic_fetch_add(&arrived, 1) == 1) {
        atomic_store(&arrived, 0);
        atomic_store(&sense, s);
    } else
        while (atomic_load(&sense) != s) relax();
}

CLONES static void half_job(int part, int *mine) {
    const job_t *j = &job;
    int H = j->H, G = 4 * H, L = j->L, R = j->n;
    int u0 = part ? H / 2 : 0, m = part ? H - H / 2 : H / 2, o = 4 * u0; /* my units, my columns [o, o + 4m) */
    float *c = j->c;
    for (int layer = 0; layer < j->layers; layer++) {
        const float *A = layer == 0 ? j->x : j->seq;
        int K = layer == 0 ? j->I : H;
        const float *Wi = layer == 0 ? j->wih0T : j->wihT + (size_t)(layer - 1) * H * G;
        const float *Wh = j->whhT + (size_t)layer * H * G;
        /* this layer's input terms for my units, every step (the previous layer's outputs are complete: the
           barrier after its last step); pre is [R][L][G] */
        for (int rt = 0; rt < R * L; rt++)
            memcpy(j->pre + (size_t)rt * G + o, j->bias + (size_t)layer * G + o, sizeof(float) * 4 * m);
        mm_acc(A, K, Wi + o, G, j->pre + o, G, R * L, K, 4 * m);
        for (int r = 0; r < R; r++) memset(c + (size_t)r * H + u0, 0, sizeof(float) * m);
        if (layer > 0) barrier(mine); /* both have read the previous layer's outputs before they are overwritten */
        for (int t = 0; t < L; t++) {
            const float *hp = t == 0 ? j->zero : j->hb + (size_t)(t & 1) * R * H;
            float *hn = j->hb + (size_t)((t + 1) & 1) * R * H;
            for (int r = 0; r < R; r++)
                memcpy(j->g + (size_t)r * G + o, j->pre + ((size_t)r * L + t) * G + o, sizeof(float) * 4 * m);
            mm_acc(hp, H, Wh + o, G, j->g + o, G, R, H, 4 * m);
            for (int r = 0; r < R; r++)
                cell(j->g + (size_t)r * G + o, c + (size_t)r * H + u0, hn + (size_t)r * H + u0,
                     j->seq + ((size_t)r * L + t) * H + u0, m);
            barrier(mine);
        }
    }
}

static int main_sense; /* the caller's barrier sense (callers are serialised by busy) */

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The worker spins for SPIN_NS after its last job or a wake-up, then sleeps (10 ms a minute at one bar a
   minute). A caller claims a spinning worker
   (W_SPIN -> W_CLAIMED) or, when it sleeps, wakes it and runs the window alone: waking a sleeping thread took
   ~0.1 ms typically and up to 15 ms (measured, in this VM), so nobody ever waits for one. lstm_wake() lets
   the live engine wake it when a bar arrives, before the window is ready. */
static void *worker(void *arg) {
    (void)arg;
    int seen = 0, mine = 0, woke = 0;
    for (;;) {
        long long until = now_ns() + SPIN_NS;
        for (unsigned k = 1;; k++) { /* unsigned: a worker kept busy spins here for hours */
            if (atomic_load(&wstate) == W_CLAIMED) {
                while (atomic_load(&posted) == seen) relax(); /* the caller posts right after its claim */
                seen = atomic_load(&posted);
                int us = atomic_exchange(&stall_us, 0);
                if (us) {
                    struct timespec d = {us / 1000000, (long)(us % 1000000) * 1000};
                    nanosleep(&d, NULL);
                }
                int open = 0;
                if (atomic_compare_exchange_strong(&taken, &open, 1)) half_job(1, &mine); /* else the caller ran it */
                atomic_store(&wstate, W_SPIN);
                until = now_ns() + SPIN_NS;
                continue;
            }
            if (k % 256 == 0 && now_ns() >= until) {
                int e = W_SPIN;
                if (atomic_compare_exchange_strong(&wstate, &e, W_SLEEP)) break;
                continue; /* claimed just now */
            }
            relax();
        }
        pthread_mutex_lock(&mu);
        while (atomic_load(&wake_gen) == woke) pthread_cond_wait(&cv, &mu);
        woke = atomic_load(&wake_gen);
        atomic_store(&wstate, W_SPIN);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* Tests: how many calls ran on two threads so far; make the worker late (as if it lost its CPU) for its next
   job by `us` microseconds. */
long lstm_split_calls(void) { return atomic_load(&split_calls); }
void lstm_stall_worker(int us) { atomic_store(&stall_us, us); }

/* Wake the worker if it sleeps (no-op otherwise, or before its first use). */
void lstm_wake(void) {
    if (atomic_load(&wstate) != W_SLEEP) return;
    pthread_mutex_lock(&mu);
    atomic_fetch_add(&wake_gen, 1);
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* In a child of fork() only the calling thread exists: the next call starts a new worker, from a fresh
   barrier (both senses 0) and fresh locks (the worker may have held mu at the fork). */
static void forked_child(void) {
    main_sense = 0;
    atomic_store(&busy, 0);
    atomic_store(&posted, 0);
    atomic_store(&taken, 0);
    atomic_store(&arrived, 0);
    atomic_store(&sense, 0);
    atomic_store(&wstate, W_NONE);
    atomic_store(&wake_gen, 0);
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&cv, NULL);
}

static int start_worker(void) {
    static int atfork;
    if (!atfork) atfork = pthread_atfork(NULL, NULL, forked_child) == 0;
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    atomic_store(&wstate, W_SPIN);
    int ok = pthread_create(&th, &at, worker, NULL) == 0;
    pthread_attr_destroy(&at);
    if (!ok) atomic_store(&wstate, W_NONE);
    return ok;
}

/* 0 when the windows ran on two threads; -1: run them alone (the worker is busy, asleep or could not start, or
   out of memory). */
static int two_threads(const float *x, int n, int L, int I, int H, int layers, const float *wih0T, const float *wihT,
                       const float *whhT, const float *bias, const float *hw, float hb, float *out) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&busy, &expected, 1)) return -1;
    int rc = -1, G = 4 * H;
    float *pre = amalloc((size_t)n * L * G), *seq = amalloc((size_t)n * L * H), *hbuf = amalloc((size_t)2 * n * H);
    float *c = amalloc((size_t)n * H), *g = amalloc((size_t)n * G), *zero = amalloc((size_t)n * H);
    int state = W_SPIN;
    if (atomic_load(&wstate) == W_NONE) start_worker();
    if (pre && seq && hbuf && c && g && zero && atomic_compare_exchange_strong(&wstate, &state, W_CLAIMED)) {
        memset(zero, 0, sizeof(float) * n * H);
        job = (job_t){x, wih0T, wihT, whhT, bias, n, L, I, H, layers, pre, seq, hbuf, c, g, zero};
        atomic_store(&taken, 0);
        atomic_fetch_add(&posted, 1);
        /* A worker that looked like spinning may have lost its CPU (a VM's vCPU descheduled): after TAKE_NS
           the caller takes the job back and runs it alone (the worker then skips it). */
        long long until = now_ns() + TAKE_NS;
        for (unsigned k = 1; atomic_load(&taken) == 0 && (k % 64 || now_ns() < until); k++) relax();
        int open = 0;
        if (atomic_compare_exchange_strong(&taken, &open, 2)) goto alone;
        half_job(0, &main_sense); /* its last barrier: the worker is done with the job */
        for (int r = 0; r < n; r++) out[r] = head(seq + ((size_t)r * L + L - 1) * H, hw, hb, H); /* last output */
        rc = 0;
        atomic_fetch_add(&split_calls, 1);
    } else if (state == W_SLEEP)
        lstm_wake(); /* for the next call */
alone:
    free(pre); free(seq); free(hbuf); free(c); free(g); free(zero);
    atomic_store(&busy, 0);
    return rc;
}

/* Outputs out[n] of n windows. x [n][L][I]; wih0T [I][G]; wihT [layers-1][H][G]; whhT [layers][H][G]; bias [layers][G]; returns -1 when out of memory. */
CLONES int lstm_forward(const float *x, int n, int L, int I, int H, int layers, const float *wih0T, const float *wihT,
                        const float *whhT, const float *bias, const float *hw, float hb, float *out, int split) {
    int G = 4 * H;
    if (split > 1 && n <= TR && two_threads(x, n, L, I, H, layers, wih0T, wihT, whhT, bias, hw, hb, out) == 0) return 0;
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
            if (layer == 0) mm_acc(x + (size_t)r0 * L * I, I, wih0T, G, pre, G, R * L, I, G);
            else mm_acc(seq, H, wihT + (size_t)(layer - 1) * H * G, G, pre, G, R * L, H, G);
            memset(h, 0, sizeof(float) * R * H);
            memset(c, 0, sizeof(float) * R * H);
            const float *Wh = whhT + (size_t)layer * H * G;
            for (int t = 0; t < L; t++) {
                for (int r = 0; r < R; r++) memcpy(g + (size_t)r * G, pre + ((size_t)r * L + t) * G, sizeof(float) * G);
                mm_acc(h, H, Wh, G, g, G, R, H, G);
                for (int r = 0; r < R; r++)
                    for (int u0 = 0, m = H / 2; u0 < H; u0 += m, m = H - H / 2)
                        cell(g + (size_t)r * G + 4 * u0, c + (size_t)r * H + u0, h + (size_t)r * H + u0,
                             seq + ((size_t)r * L + t) * H + u0, m);
            }
        }
        for (int r = 0; r < R; r++) out[r0 + r] = head(h + (size_t)r * H, hw, hb, H);
        free(pre); free(seq); free(g); free(h); free(c);
    }
    return 0;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lstm", "LSTM inference kernel (loaded with ctypes).", -1, NULL};

PyMODINIT_FUNC PyInit__lstm(void) { return PyModule_Create(&module); }
