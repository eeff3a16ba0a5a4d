/* The workflow's one pass over a layer's 3x3 filters, compiled (see kernels.py).
 *
 * Plain C functions called through ctypes; the module init exists only so that setuptools
 * builds and installs this file as filterdb._pass. Blocks of BLOCK filters are transposed
 * to (10, BLOCK) float64 rows (row 9: ones, so a product with a block gives its row sums
 * too) that stay in L1 cache; each filter is loaded once for its norms, its scaled copy,
 * both scatter matrices and, with a frozen basis, its coefficients and their bins.
 *
 * Rounding: built with -ffp-contract=off and no fast-math, so every value is computed in
 * the order written here, whatever the vector width: the same bits on any x86-64 (the
 * AVX2 build below and the baseline one) and any compiler. Sums use LANES independent
 * partial sums (vectorisable without reassociation), then add them in a fixed order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 256
#define LANES 8

/* out: l1, l2, then the 10x10 Gram of the shifted block rows, then that of the scaled ones
 * (lower triangle and the element above the diagonal, see gram_add) */
#define OUT_SIZE (2 + 100 + 100)

#define PASS_ARGS                                                                             \
    int64_t n, const double *shift, double *peak, int scaled_sums, const double *matrix,     \
        int binned, const double *low, const double *high, const double *norm, int64_t bins,  \
        int64_t *counts, int64_t *joint, int jx, int jy, double *out
#define PASS_CALL n, shift, peak, scaled_sums, matrix, binned, low, high, norm, bins, counts, joint, jx, jy, out
#define PROJECT_ARGS const double *matrix, const double *a, int64_t lda, double *c, int64_t ldc, int64_t k
#define PROJECT_CALL matrix, a, lda, c, ldc, k

/* Each filter's max |w|, Σ|w| and ‖w‖₂ (elementwise over filters: vectorises). */
static inline __attribute__((always_inline)) void block_norms(double x[10][BLOCK], int64_t k, double *peak, double *l1b, double *l2b) {
    for (int64_t t = 0; t < k; t++) {
        double m = 0.0, s1 = 0.0, s2 = 0.0;
        for (int j = 0; j < 9; j++) {
            double v = x[j][t], av = fabs(v);
            s1 += av;
            s2 += v * v;
            m = av > m ? av : m; /* a NaN weight: NaN in l1, which the caller checks */
        }
        peak[t] = m;
        l1b[t] = s1;
        l2b[t] = sqrt(s2);
    }
}

/* Four doubles, as one AVX register or two SSE2 ones (GCC/Clang vector extension): sums
 * kept in LANES = 8 such partial sums have a fixed order on every build. */
typedef double v4d __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) v4d load4(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) double total8(v4d a, v4d b) {
    v4d s = a + b;
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Σ v[0:kp], kp a multiple of LANES (the padding holds zeros) */
static inline __attribute__((always_inline)) double lane_sum(const double *v, int64_t kp) {
    v4d a = {0}, b = {0};
    for (int64_t t = 0; t < kp; t += LANES) {
        a += load4(v + t);
        b += load4(v + t + 4);
    }
    return total8(a, b);
}

/* a = x / max|x| per filter (row 9: ones, padding: zeros); a zero filter is all zeros and,
 * divided by 1, stays zero: no branch in the inner loop */
static inline __attribute__((always_inline)) void scale_block(double x[10][BLOCK], const double *peak, int64_t k, int64_t kp,
                               double a[10][BLOCK], double *divisor) {
    for (int64_t t = 0; t < k; t++) divisor[t] = peak[t] > 0 ? peak[t] : 1.0;
    for (int j = 0; j < 9; j++) {
        for (int64_t t = 0; t < k; t++) a[j][t] = x[j][t] / divisor[t];
        for (int64_t t = k; t < kp; t++) a[j][t] = 0.0;
    }
    for (int64_t t = 0; t < kp; t++) a[9][t] = t < k ? 1.0 : 0.0;
}

/* acc[p][q] += Σ_t x[p][t] x[q][t] for q ≤ p + 1, rows p in pairs (each load of row q feeds
 * two products); kp is a multiple of LANES and the padding holds zeros */
static inline __attribute__((always_inline)) void gram_add(double x[10][BLOCK], int64_t kp, double *acc) {
    for (int p = 0; p < 10; p += 2) {
        for (int q = 0; q < p + 2; q++) {
            v4d s0a = {0}, s0b = {0}, s1a = {0}, s1b = {0};
            for (int64_t t = 0; t < kp; t += LANES) {
                v4d qa = load4(x[q] + t), qb = load4(x[q] + t + 4);
                s0a += load4(x[p] + t) * qa;
                s0b += load4(x[p] + t + 4) * qb;
                s1a += load4(x[p + 1] + t) * qa;
                s1b += load4(x[p + 1] + t + 4) * qb;
            }
            acc[p * 10 + q] += total8(s0a, s0b);
            acc[(p + 1) * 10 + q] += total8(s1a, s1b);
        }
    }
}

/* c_i = Σ_j M_ij a_j, j = 0…9 in this order (row 9 of a: ones); rows of a and c lda and
 * ldc doubles apart */
static inline __attribute__((always_inline)) void project_rows(PROJECT_ARGS) {
    for (int i = 0; i < 9; i++) {
        const double *m = matrix + i * 10;
        for (int64_t t = 0; t < k; t++) {
            double s = m[0] * a[t];
            for (int j = 1; j < 10; j++) s += m[j] * a[j * lda + t];
            c[i * ldc + t] = s;
        }
    }
}

/* index = ⌊(c − low) · norm⌋, the last bin closed; −1 outside [low, high] or NaN
 * (shift.Binner's rule) */
static inline __attribute__((always_inline)) void bin_block(double c[9][BLOCK], int64_t k, const double *low, const double *high,
                             const double *norm, int64_t bins, int64_t index[9][BLOCK]) {
    for (int i = 0; i < 9; i++) {
        double lo = low[i], hi = high[i], nm = norm[i];
        for (int64_t t = 0; t < k; t++) {
            double v = c[i][t];
            int64_t b = -1;
            if (v >= lo && v <= hi) {
                b = (int64_t)((v - lo) * nm);
                if (b > bins - 1) b = bins - 1;
            }
            index[i][t] = b;
        }
    }
}

/* One layer: w32 or w64 (the other NULL), (n, 9) row-major; out (OUT_SIZE) is added to. */
static inline __attribute__((always_inline)) void layer_pass(const float *w32, const double *w64, PASS_ARGS) {
    double x[10][BLOCK], a[10][BLOCK], c[9][BLOCK], divisor[BLOCK], l1b[BLOCK], l2b[BLOCK];
    int64_t index[9][BLOCK];
    double *shifted = out + 2, *scaled = out + 102;
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t k = n - start < BLOCK ? n - start : BLOCK;
        int64_t kp = (k + LANES - 1) / LANES * LANES; /* padded: zeros in every row */
        for (int64_t t = 0; t < k; t++)
            for (int j = 0; j < 9; j++) x[j][t] = w32 ? (double)w32[(start + t) * 9 + j] : w64[(start + t) * 9 + j];
        for (int64_t t = 0; t < k; t++) x[9][t] = 1.0;
        for (int j = 0; j < 10; j++)
            for (int64_t t = k; t < kp; t++) x[j][t] = 0.0;
        block_norms(x, k, peak + start, l1b, l2b);
        for (int64_t t = k; t < kp; t++) l1b[t] = l2b[t] = 0.0;
        out[0] += lane_sum(l1b, kp);
        out[1] += lane_sum(l2b, kp);
        if (scaled_sums || binned) {
            scale_block(x, peak + start, k, kp, a, divisor);
            if (scaled_sums) gram_add(a, kp, scaled);
        }
        for (int j = 0; j < 9; j++)
            for (int64_t t = 0; t < k; t++) x[j][t] -= shift[j];
        gram_add(x, kp, shifted);
        if (binned) {
            project_rows(matrix, &a[0][0], BLOCK, &c[0][0], BLOCK, k);
            bin_block(c, k, low, high, norm, bins, index);
            /* filter by filter: consecutive increments go to nine different rows */
            for (int64_t t = 0; t < k; t++)
                for (int i = 0; i < 9; i++)
                    if (index[i][t] >= 0) counts[i * bins + index[i][t]]++;
            if (joint)
                for (int64_t t = 0; t < k; t++)
                    if (index[jx][t] >= 0 && index[jy][t] >= 0) joint[index[jx][t] * bins + index[jy][t]]++;
        }
    }
}

/* Each entry point in two builds: the baseline one, and on x86-64 an AVX2 one picked at run time */
static void pass_base(const float *w32, const double *w64, PASS_ARGS) { layer_pass(w32, w64, PASS_CALL); }
static void project_base(PROJECT_ARGS) { project_rows(PROJECT_CALL); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_BUILD 1
__attribute__((target("avx2"))) static void pass_avx2(const float *w32, const double *w64, PASS_ARGS) {
    layer_pass(w32, w64, PASS_CALL);
}
__attribute__((target("avx2"))) static void project_avx2(PROJECT_ARGS) { project_rows(PROJECT_CALL); }

/* FILTERDB_PASS_BASELINE=1 picks the baseline build on an AVX2 machine: the tests compare the
 * two builds' bits */
static int use_avx2(void) {
    static int known = -1;
    if (known < 0) {
        const char *baseline = getenv("FILTERDB_PASS_BASELINE");
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && !(baseline && *baseline && *baseline != '0') ? 1 : 0;
    }
    return known;
}
#define BUILD(name) (use_avx2() ? name##_avx2 : name##_base)
#else
static int use_avx2(void) { return 0; }
#define BUILD(name) name##_base
#endif

void fdb_pass_f32(const float *w, PASS_ARGS) { BUILD(pass)(w, NULL, PASS_CALL); }

void fdb_pass_f64(const double *w, PASS_ARGS) { BUILD(pass)(NULL, w, PASS_CALL); }

/* c (9, k) = matrix (9, 10) · a (10, k), rows lda and ldc doubles apart */
void fdb_project(PROJECT_ARGS) { BUILD(project)(PROJECT_CALL); }

int fdb_out_size(void) { return OUT_SIZE; }

/* 1 when the AVX2 build runs, 0 for the baseline one */
int fdb_uses_avx2(void) { return use_avx2(); }

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pass", "filterdb's compiled pass (see kernels.py)", -1, NULL};

PyMODINIT_FUNC PyInit__pass(void) { return PyModule_Create(&module); }
