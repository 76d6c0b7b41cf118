/* The CPU's single-precision fused multiply-add peak, for benchmarks/live.py's physical limits: 12
   independent accumulator chains (more than FMA latency x issue width on current x86 cores) and nothing
   but FMAs in the loop. Built by the benchmark with the machine's C compiler; not part of the package. */
#include <time.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define R(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
/* V, SET, FMA, ADD: the vector type and its intrinsics, defined before each use */
#define PEAK(NAME, TARGET)                                               \
    __attribute__((target(TARGET))) static float NAME(long n) {         \
        V b = SET(0.999f), c = SET(0.001f), t = SET(0.0f);               \
        R(DECL)                                                          \
        for (long k = 0; k < n; k++) {                                   \
            R(STEP)                                                      \
            __asm__ volatile("" ::: "memory");                           \
        }                                                                \
        R(SUM)                                                           \
        return ((float *)&t)[0];                                         \
    }
#define DECL(i) V a##i = SET((float)i);
#define STEP(i) a##i = FMA(a##i, b, c);
#define SUM(i) t = ADD(t, a##i);
#define V __m512
#define SET _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
PEAK(zmm, "avx512f")
#undef V
#undef SET
#undef FMA
#undef ADD
#define V __m256
#define SET _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
PEAK(ymm, "avx2,fma")

/* GFLOP/s of `seconds` of FMAs on this thread; 0 when the CPU has neither AVX-512 nor AVX2 + FMA. */
double fma_peak(double seconds, double *sink) {
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0.0;
    double flop = 0, el = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (el < seconds) {
        long n = 1000000;
        *sink += wide ? zmm(n) : ymm(n);
        flop += n * 12.0 * (wide ? 16 : 8) * 2;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    }
    return flop / el / 1e9;
}
#else
double fma_peak(double seconds, double *sink) {
    (void)seconds;
    (void)sink;
    return 0.0;
}
#endif
