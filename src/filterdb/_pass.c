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

/* Partial sums in LANES = 8 lanes, as four-double pairs (one AVX register, two SSE2 ones)
 * or as eight-double vectors (one AVX-512 register), GCC/Clang vector extensions: the same
 * order of operations on every build, so the same bits. Each build uses the shape it has
 * registers for (eight-double vectors cost the AVX2 build a spill per operation). */
typedef double v4d __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) v4d load4(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) v8d load8(const double *p) {
    v8d v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* lanes i and i + 4 first, then pairs */
static inline __attribute__((always_inline)) double total4(v4d a, v4d b) {
    v4d s = a + b;
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static inline __attribute__((always_inline)) double total8(v8d s) {
    v4d a = {s[0], s[1], s[2], s[3]}, b = {s[4], s[5], s[6], s[7]};
    return total4(a, b);
}

/* Σ v[0:kp], kp a multiple of LANES (the padding holds zeros); wide: eight-double vectors */
static inline __attribute__((always_inline)) double lane_sum(const double *v, int64_t kp, int wide) {
    if (wide) {
        v8d a = {0};
        for (int64_t t = 0; t < kp; t += LANES) a += load8(v + t);
        return total8(a);
    }
    v4d a = {0}, b = {0};
    for (int64_t t = 0; t < kp; t += LANES) {
        a += load4(v + t);
        b += load4(v + t + 4);
    }
    return total4(a, b);
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
static inline __attribute__((always_inline)) void gram_add(double x[10][BLOCK], int64_t kp, double *acc, int wide) {
    for (int p = 0; p < 10; p += 2) {
        for (int q = 0; q < p + 2; q++) {
            double s0, s1;
            if (wide) {
                v8d a0 = {0}, a1 = {0};
                for (int64_t t = 0; t < kp; t += LANES) {
                    v8d xq = load8(x[q] + t);
                    a0 += load8(x[p] + t) * xq;
                    a1 += load8(x[p + 1] + t) * xq;
                }
                s0 = total8(a0), s1 = total8(a1);
            } else {
                v4d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0};
                for (int64_t t = 0; t < kp; t += LANES) {
                    v4d qa = load4(x[q] + t), qb = load4(x[q] + t + 4);
                    a0 += load4(x[p] + t) * qa;
                    b0 += load4(x[p] + t + 4) * qb;
                    a1 += load4(x[p + 1] + t) * qa;
                    b1 += load4(x[p + 1] + t + 4) * qb;
                }
                s0 = total4(a0, b0), s1 = total4(a1, b1);
            }
            acc[p * 10 + q] += s0;
            acc[(p + 1) * 10 + q] += s1;
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
static inline __attribute__((always_inline)) void layer_pass(int wide, const float *w32, const double *w64, PASS_ARGS) {
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
        out[0] += lane_sum(l1b, kp, wide);
        out[1] += lane_sum(l2b, kp, wide);
        if (scaled_sums || binned) {
            scale_block(x, peak + start, k, kp, a, divisor);
            if (scaled_sums) gram_add(a, kp, scaled, wide);
        }
        for (int j = 0; j < 9; j++)
            for (int64_t t = 0; t < k; t++) x[j][t] -= shift[j];
        gram_add(x, kp, shifted, wide);
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

/* Each entry point in up to three builds: the baseline one, and on x86-64 an AVX2 and an
 * AVX-512 one, the best the CPU has picked at run time */
static void pass_base(const float *w32, const double *w64, PASS_ARGS) { layer_pass(0, w32, w64, PASS_CALL); }
static void project_base(PROJECT_ARGS) { project_rows(PROJECT_CALL); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_BUILDS 1
#define AVX2 "avx2"
#ifdef __clang__ /* Clang takes no vector-width preference here, and would drop the whole attribute */
#define AVX512 "avx512f,avx512dq,avx512vl,avx512bw"
#else
#define AVX512 "avx512f,avx512dq,avx512vl,avx512bw,prefer-vector-width=512"
#endif
__attribute__((target(AVX2))) static void pass_avx2(const float *w32, const double *w64, PASS_ARGS) {
    layer_pass(0, w32, w64, PASS_CALL);
}
__attribute__((target(AVX2))) static void project_avx2(PROJECT_ARGS) { project_rows(PROJECT_CALL); }
__attribute__((target(AVX512))) static void pass_avx512(const float *w32, const double *w64, PASS_ARGS) {
    layer_pass(1, w32, w64, PASS_CALL);
}
__attribute__((target(AVX512))) static void project_avx512(PROJECT_ARGS) { project_rows(PROJECT_CALL); }

/* 2: AVX-512, 1: AVX2, 0: baseline. FILTERDB_PASS_BUILD=baseline|avx2 caps it: the tests
 * compare the builds' bits */
static int build_level(void) {
    static int known = -1;
    if (known < 0) {
        const char *cap = getenv("FILTERDB_PASS_BUILD");
        int most = cap && !strcmp(cap, "baseline") ? 0 : cap && !strcmp(cap, "avx2") ? 1 : 2;
        __builtin_cpu_init();
        int level = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") ? 2
                    : __builtin_cpu_supports("avx2") ? 1 : 0;
        known = level < most ? level : most;
    }
    return known;
}
#define BUILD(name) (build_level() == 2 ? name##_avx512 : build_level() == 1 ? name##_avx2 : name##_base)
#else
static int build_level(void) { return 0; }
#define BUILD(name) name##_base
#endif

void fdb_pass_f32(const float *w, PASS_ARGS) { BUILD(pass)(w, NULL, PASS_CALL); }

void fdb_pass_f64(const double *w, PASS_ARGS) { BUILD(pass)(NULL, w, PASS_CALL); }

/* c (9, k) = matrix (9, 10) · a (10, k), rows lda and ldc doubles apart */
void fdb_project(PROJECT_ARGS) { BUILD(project)(PROJECT_CALL); }

int fdb_out_size(void) { return OUT_SIZE; }

/* which build runs: 2 AVX-512, 1 AVX2, 0 baseline */
int fdb_build(void) { return build_level(); }

/* ---- CRC-32 (gzip's, as zlib.crc32 and Parquet's page checksums): the read of a filters
 * file checks every page, and zlib's table code takes ~8 ns per filter, as much as the rest
 * of the read. With PCLMULQDQ, four 128-bit lanes are folded forward 512 bits at a time
 * (X·x^512 ≡ L·(x^575 mod P)·x + H·(x^511 mod P)·x for X = L·x^64 + H; a carry-less product
 * of two bit-reflected values is the reflected product shifted by one bit, hence the
 * exponents less one), then into one lane; the last 16 bytes and the tail go through the
 * table. The constants are x^e mod P, bit-reflected into 64 bits. */
static uint32_t crc_table[256];

__attribute__((constructor)) static void crc_table_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

/* the register s (no inversions) after the bytes */
static uint32_t crc_bytes(uint32_t s, const uint8_t *data, int64_t n) {
    for (int64_t i = 0; i < n; i++) s = crc_table[(s ^ data[i]) & 0xFF] ^ (s >> 8);
    return s;
}

#ifdef HAVE_X86_BUILDS
#include <immintrin.h>

__attribute__((target("pclmul,sse4.1"))) static inline __m128i crc_fold(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_pclmul(uint32_t s, const uint8_t *data, int64_t n) {
    if (n < 64) return crc_bytes(s, data, n);
    /* lo: the constant for the lane's low (higher-degree) half, hi: for its high half */
    const __m128i fold4 = _mm_set_epi64x((long long)0xCAD38E8F00000000ull, (long long)0x653D982200000000ull);
    const __m128i fold1 = _mm_set_epi64x((long long)0x9BA54C6F00000000ull, (long long)0x65673B4600000000ull);
    __m128i x0 = _mm_loadu_si128((const __m128i *)data), x1 = _mm_loadu_si128((const __m128i *)(data + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(data + 32)), x3 = _mm_loadu_si128((const __m128i *)(data + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)s)); /* a register s is the same as s xored into the first bytes */
    int64_t pos = 64;
    for (; pos + 64 <= n; pos += 64) {
        x0 = crc_fold(x0, fold4, _mm_loadu_si128((const __m128i *)(data + pos)));
        x1 = crc_fold(x1, fold4, _mm_loadu_si128((const __m128i *)(data + pos + 16)));
        x2 = crc_fold(x2, fold4, _mm_loadu_si128((const __m128i *)(data + pos + 32)));
        x3 = crc_fold(x3, fold4, _mm_loadu_si128((const __m128i *)(data + pos + 48)));
    }
    __m128i x = crc_fold(crc_fold(crc_fold(x0, fold1, x1), fold1, x2), fold1, x3);
    uint8_t last[16];
    _mm_storeu_si128((__m128i *)last, x);
    return crc_bytes(crc_bytes(0, last, 16), data + pos, n - pos);
}

static int use_pclmul(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    }
    return known;
}
#else
static int use_pclmul(void) { return 0; }
#define crc_pclmul crc_bytes
#endif

/* zlib.crc32(data, value); without PCLMULQDQ the byte table (kernels.crc32 then uses zlib) */
uint32_t fdb_crc32(const uint8_t *data, int64_t n, uint32_t value) {
    return ~(use_pclmul() ? crc_pclmul(~value, data, n) : crc_bytes(~value, data, n));
}

/* 1 when the carry-less multiply CRC runs, 0 for the table */
int fdb_uses_pclmul(void) { return use_pclmul(); }

/* ---- Snappy (raw block format, Parquet's SNAPPY codec): a page of a filters file
 * decoded into a buffer that the caller reuses, so that it stays in cache (a codec that
 * returns a fresh buffer per page pays its page faults). Weights are nearly
 * incompressible: mostly long literals, copied with memcpy. Any inconsistency (a length
 * past either end, an offset before the start, a size other than the preamble's) is -1,
 * and the caller reads the page with pyarrow, which names the damage. */
int64_t fdb_snappy(const uint8_t *src, int64_t n, uint8_t *dst, int64_t capacity) {
    const uint8_t *ip = src, *end = src + n;
    uint64_t size = 0;
    for (int shift = 0;; shift += 7) {
        if (ip >= end || shift > 28) return -1;
        uint8_t b = *ip++;
        size |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) break;
    }
    if (size > (uint64_t)capacity) return -1;
    uint8_t *op = dst, *limit = dst + size;
    while (ip < end) {
        uint8_t tag = *ip++;
        uint64_t length, offset;
        if ((tag & 3) == 0) { /* literal: length − 1 in the tag, or in 1–4 bytes after it */
            length = (tag >> 2) + 1;
            if (length > 60) {
                int bytes = (int)length - 60;
                if (end - ip < bytes) return -1;
                length = 0;
                for (int i = 0; i < bytes; i++) length |= (uint64_t)ip[i] << (8 * i);
                length += 1;
                ip += bytes;
            }
            if ((uint64_t)(end - ip) < length || (uint64_t)(limit - op) < length) return -1;
            memcpy(op, ip, length);
            ip += length, op += length;
            continue;
        }
        if ((tag & 3) == 1) { /* copy, 4–11 bytes, an 11-bit offset */
            if (end - ip < 1) return -1;
            length = ((tag >> 2) & 7) + 4;
            offset = ((uint64_t)(tag >> 5) << 8) | ip[0];
            ip += 1;
        } else if ((tag & 3) == 2) { /* copy, 1–64 bytes, a 16-bit offset */
            if (end - ip < 2) return -1;
            length = (tag >> 2) + 1;
            offset = (uint64_t)ip[0] | (uint64_t)ip[1] << 8;
            ip += 2;
        } else { /* copy, 1–64 bytes, a 32-bit offset */
            if (end - ip < 4) return -1;
            length = (tag >> 2) + 1;
            offset = (uint64_t)ip[0] | (uint64_t)ip[1] << 8 | (uint64_t)ip[2] << 16 | (uint64_t)ip[3] << 24;
            ip += 4;
        }
        if (offset == 0 || offset > (uint64_t)(op - dst) || (uint64_t)(limit - op) < length) return -1;
        const uint8_t *from = op - offset;
        if (offset >= length) {
            memcpy(op, from, length);
            op += length;
        } else {
            for (uint64_t i = 0; i < length; i++) *op++ = from[i]; /* overlapping: a repeated pattern */
        }
    }
    return op == limit ? (int64_t)size : -1;
}

/* ---- Orthogonality's reduction of a layer's c × c float32 Gram g (metrics.orthogonality):
 * Σ_ij |g_ij| w_i w_j in float64 from the lower triangle (g is symmetric), and the diagonal
 * g_ii w_i². In numpy this was a float64 copy of g, its absolute values and two products. */
void fdb_gram_abs(const float *gram, int64_t c, const double *w, double *total, double *diagonal) {
    double off = 0.0, on = 0.0;
    for (int64_t i = 0; i < c; i++) {
        const float *row = gram + i * c;
        double s = 0.0;
        for (int64_t j = 0; j < i; j++) s += fabs((double)row[j]) * w[j];
        off += s * w[i];
        diagonal[i] = (double)row[i] * w[i] * w[i];
        on += fabs(diagonal[i]);
    }
    *total = 2.0 * off + on;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pass", "filterdb's compiled pass (see kernels.py)", -1, NULL};

PyMODINIT_FUNC PyInit__pass(void) { return PyModule_Create(&module); }
