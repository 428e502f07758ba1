// Private: the SIMD building blocks of the fused kernels (gradient and Hessian-vector product).
//
// Weights come in the layout of PackedWeights (packed_weights.hpp): W^T as d x ld, b and v
// zero-padded to Kp, a multiple of the neuron tile kT.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "packed_weights.hpp"

namespace flatcore::kernels {

using Index = Eigen::Index;

constexpr Index kT = PackedWeights::kNeuronTile;  // neurons per register tile

// Short SIMD vectors through the GCC/Clang vector extension: the widest the target offers
// (AVX-512: 8 doubles, AVX: 4, else SSE2: 2), so one source serves native and portable builds.
// A few helpers use x86 intrinsics; elsewhere (e.g. ARM, where the compiler lowers the vectors
// to NEON) and with FLATCORE_FORCE_LANES they have generic versions. FLATCORE_FORCE_LANES=8
// builds the AVX-512 tiling for a machine without AVX-512 (the compiler splits the vectors), so
// the tests can check that layout anywhere.
#if defined(FLATCORE_FORCE_LANES)
#define FLATCORE_LANES FLATCORE_FORCE_LANES
#define FLATCORE_GENERIC_SIMD 1
#elif defined(__AVX512F__)
#define FLATCORE_LANES 8
#elif defined(__AVX__)
#define FLATCORE_LANES 4
#elif defined(__SSE2__)
#define FLATCORE_LANES 2
#else
#define FLATCORE_LANES 2
#define FLATCORE_GENERIC_SIMD 1
#endif
#if !defined(FLATCORE_GENERIC_SIMD)
#include <immintrin.h>
#endif
typedef double vdouble __attribute__((vector_size(FLATCORE_LANES * sizeof(double))));
constexpr int kLanes = FLATCORE_LANES;
// What a lane-wise comparison of two vdouble gives: 64-bit integers, -1 (all bits) where true.
using vmask = decltype(vdouble{} > vdouble{});

inline vdouble vload(const double* p) {
  vdouble v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(double* p, vdouble v) { std::memcpy(p, &v, sizeof v); }

// A load the compiler cannot fold into the instructions that use its value: it would otherwise
// repeat the load inside every FMA that reads a weight vector, which doubles the loads of the
// inner loops and makes them load-bound.
inline vdouble vload_once(const double* p) {
#if defined(FLATCORE_GENERIC_SIMD)
  return vload(p);
#else
  vdouble v;
#if defined(__AVX512F__)
  __asm__("vmovupd %1, %0" : "=v"(v) : "m"(*reinterpret_cast<const vdouble*>(p)));
#elif defined(__AVX__)
  __asm__("vmovupd %1, %0" : "=x"(v) : "m"(*reinterpret_cast<const vdouble*>(p)));
#else
  __asm__("movupd %1, %0" : "=x"(v) : "m"(*reinterpret_cast<const vdouble*>(p)));
#endif
  return v;
#endif
}

// max(v, 0) lane-wise in one instruction (the select v > 0 ? v : 0 compiles to two); equal to
// that select for every input, NaN and -0 included (both give +0).
inline vdouble relu(vdouble v) {
  const vdouble zero = {};
#if defined(FLATCORE_GENERIC_SIMD)
  return v > zero ? v : zero;
#elif defined(__AVX512F__)
  return (vdouble)_mm512_max_pd((__m512d)v, (__m512d)zero);
#elif defined(__AVX__)
  return (vdouble)_mm256_max_pd((__m256d)v, (__m256d)zero);
#else
  return (vdouble)_mm_max_pd((__m128d)v, (__m128d)zero);
#endif
}

// a * b + c lane-wise, rounded once where the target has fused multiply-adds and twice where it
// has not. Written out rather than left to the compiler's contraction, which may or may not fuse
// a given product: the certified step (certified_step.cpp) computes pre-activations one at a
// time with the scalar twin below and must get the dense kernels' bits.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define FLATCORE_HAS_FMA 1
#endif
inline vdouble fmadd(vdouble a, vdouble b, vdouble c) {
#if defined(FLATCORE_GENERIC_SIMD) && defined(FLATCORE_HAS_FMA)
  vdouble out;
  for (int l = 0; l < FLATCORE_LANES; ++l) out[l] = std::fma(a[l], b[l], c[l]);
  return out;
#elif !defined(FLATCORE_GENERIC_SIMD) && defined(__AVX512F__)
  return (vdouble)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
#elif !defined(FLATCORE_GENERIC_SIMD) && defined(__AVX__) && defined(__FMA__)
  return (vdouble)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#elif !defined(FLATCORE_GENERIC_SIMD) && defined(__FMA__)
  return (vdouble)_mm_fmadd_pd((__m128d)a, (__m128d)b, (__m128d)c);
#else
  return a * b + c;
#endif
}
inline double fmadd(double a, double b, double c) {
#if defined(FLATCORE_HAS_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Whether any lane of a comparison mask is set (one test instruction where the target has one).
inline bool any_lane(vmask m) {
#if defined(FLATCORE_GENERIC_SIMD)
  for (int l = 0; l < FLATCORE_LANES; ++l)
    if (m[l]) return true;
  return false;
#elif defined(__AVX512F__)
  return _mm512_test_epi64_mask((__m512i)m, (__m512i)m) != 0;
#elif defined(__AVX__)
  return !_mm256_testz_si256((__m256i)m, (__m256i)m);
#else
  return _mm_movemask_pd((__m128d)m) != 0;
#endif
}

constexpr int kNV = static_cast<int>(kT) / kLanes;  // vectors per neuron tile
// Rows per register tile: R * kNV accumulators plus kNV weight vectors must fit the registers.
// (With AVX2, 6 rows x 2 vectors measured slower than 4 x 2 on an AVX2 EPYC, though it runs
// fewer instructions.)
constexpr int kRowTile = kLanes == 8 ? 8 : (kLanes == 4 ? 4 : 2);
// Rows whose activations are kept together (kRowBlock x Kp doubles per thread, in L2).
constexpr Index kRowBlock = 32;
static_assert(kRowBlock % kRowTile == 0, "row block must be a whole number of row tiles");
static_assert(kNV * kLanes == kT, "tile must be a whole number of vectors");

inline double hsum(vdouble v) {
  double s = 0.0;
  for (int l = 0; l < kLanes; ++l) s += v[l];
  return s;
}

// Calls f(i, std::integral_constant<int, R>{}) for the rows [begin, end): R = kRowTile for whole
// register tiles of rows starting at i, then one tile of the R < kRowTile rows left over.
template <int R = kRowTile - 1, class F>
inline void row_tile_rest(Index i, Index rest, F& f) {
  if constexpr (R >= 1) {
    if (rest == R) return f(i, std::integral_constant<int, R>{});
    row_tile_rest<R - 1>(i, rest, f);
  }
}
template <class F>
inline void for_row_tiles(Index begin, Index end, F&& f) {
  Index i = begin;
  for (; i + kRowTile <= end; i += kRowTile) f(i, std::integral_constant<int, kRowTile>{});
  if (i < end) row_tile_rest(i, end - i, f);
}

// The two products every kernel shares, for R rows x_r and the neurons [k0, k0 + kT):

// z[r] = x_r . M[:, k0..] - shift[k0..], accumulated in registers over the d inputs
// (M^T stored d x ld: the weights W for the forward pass, a direction U_W for an HVP).
template <int R>
inline void affine_tile(const double* const (&x)[R], Index d, Index ld, Index k0, const double* MT,
                        const double* shift, vdouble (&z)[R][kNV]) {
  for (int q = 0; q < kNV; ++q) {
    const vdouble ns = -vload(shift + k0 + q * kLanes);
    for (int r = 0; r < R; ++r) z[r][q] = ns;
  }
  const double* w = MT + k0;
  const vdouble zero = {};
  for (Index j = 0; j < d; ++j, w += ld) {
    vdouble wv[kNV];
    for (int q = 0; q < kNV; ++q) wv[q] = vload_once(w + q * kLanes);
    for (int r = 0; r < R; ++r) {
      const vdouble xr = x[r][j] - zero;  // a broadcast (x - 0 is x for every x, -0 too; x + 0 is not)
      for (int q = 0; q < kNV; ++q) z[r][q] = fmadd(xr, wv[q], z[r][q]);
    }
  }
}

// G^T[:, k0..] += sum_r c[r] x_r (G^T stored d x ld), each G^T entry loaded once per R rows.
template <int R>
inline void outer_tile(const double* const (&x)[R], Index d, Index ld, Index k0, const vdouble (&c)[R][kNV],
                       double* GT) {
  double* g = GT + k0;
  for (Index j = 0; j < d; ++j, g += ld) {
    vdouble acc[kNV];
    for (int q = 0; q < kNV; ++q) acc[q] = vload(g + q * kLanes);
    for (int r = 0; r < R; ++r) {
      const double xr = x[r][j];
      for (int q = 0; q < kNV; ++q) acc[q] += c[r][q] * xr;
    }
    for (int q = 0; q < kNV; ++q) vstore(g + q * kLanes, acc[q]);
  }
}

// The fused pass works on a block of rows at a time (kRowBlock rows, their activations kept in a
// per-thread buffer that stays in L2) and walks the neurons in blocks small enough that the
// block's weights W^T[:, k-block] and gradient gW^T[:, k-block] stay in L1 while every row tile
// of the row block uses them. Inside, a register tile of R rows x kT neurons accumulates over the
// d inputs, so each weight or gradient load is shared by R rows.

// Forward for R rows and the neurons [k_begin, k_end): z = x . w - b in registers,
// phi = relu(z) stored, v . phi added to the rows' output accumulators.
template <int R>
inline void forward_tile(const double* X, Index d, Index ld, Index k_begin, Index k_end, const double* WT,
                         const double* b, const double* v, double* phi, vdouble* fpart) {
  const double* x[R];
  for (int r = 0; r < R; ++r) x[r] = X + r * d;
  vdouble f[R];  // in registers: fpart may alias the phi stores
  for (int r = 0; r < R; ++r) f[r] = fpart[r];
  for (Index k0 = k_begin; k0 < k_end; k0 += kT) {
    vdouble z[R][kNV];
    affine_tile<R>(x, d, ld, k0, WT, b, z);
    for (int q = 0; q < kNV; ++q) {
      const vdouble vv = vload(v + k0 + q * kLanes);
      for (int r = 0; r < R; ++r) {
        const vdouble a = relu(z[r][q]);
        vstore(phi + r * ld + k0 + q * kLanes, a);
        f[r] += vv * a;
      }
    }
  }
  for (int r = 0; r < R; ++r) fpart[r] = f[r];
}

// Outputs f(x_r) = beta + v . relu(W x_r - b) of R rows over all Kp neurons, keeping the
// activations in phi (row stride ld).
template <int R>
inline void output_tile(const double* X, Index d, Index ld, Index Kp, const double* WT, const double* b,
                        const double* v, double beta, double* phi, double* out) {
  const vdouble zero = {};
  vdouble fpart[R];
  for (int r = 0; r < R; ++r) fpart[r] = zero;
  forward_tile<R>(X, d, ld, 0, Kp, WT, b, v, phi, fpart);
  for (int r = 0; r < R; ++r) out[r] = beta + hsum(fpart[r]);
}

// Pre-activations z = W x_r - b of R rows over all Kp neurons, stored in z (row stride ld): the
// same arithmetic as forward_tile's, so z > 0 exactly where forward_tile's activation is.
template <int R>
inline void preactivation_tile(const double* X, Index d, Index ld, Index Kp, const double* WT,
                               const double* b, double* zout) {
  const double* x[R];
  for (int r = 0; r < R; ++r) x[r] = X + r * d;
  for (Index k0 = 0; k0 < Kp; k0 += kT) {
    vdouble z[R][kNV];
    affine_tile<R>(x, d, ld, k0, WT, b, z);
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < kNV; ++q) vstore(zout + r * ld + k0 + q * kLanes, z[r][q]);
  }
}

// Backward for R rows with residuals res and the neurons [k_begin, k_end): adds r phi to the
// (v-free) dL/dv, -r a to the threshold gradient, sum_r (r a) x_r to gW^T and, per neuron, the
// number of the R rows on which it is active to count.
template <int R>
inline void backward_tile(const double* X, const double* res, Index d, Index ld, Index k_begin, Index k_end,
                          const double* phi, double* gWT, double* gb, double* gv, double* count) {
  const double* x[R];
  for (int r = 0; r < R; ++r) x[r] = X + r * d;
  const vdouble zero = {};
  for (Index k0 = k_begin; k0 < k_end; k0 += kT) {
    vdouble c[R][kNV];
    vmask on_tile = {};  // lanes active on some row of this tile
    for (int q = 0; q < kNV; ++q) {
      vdouble gvt = zero, gbt = zero;
      vmask on_rows = {};  // minus the number of rows on which each lane is active
      for (int r = 0; r < R; ++r) {
        const vdouble p = vload(phi + r * ld + k0 + q * kLanes);
        const vdouble rr = res[r] - zero;
        const vmask on = p > zero;
        gvt += rr * p;
        c[r][q] = on ? rr : zero;
        gbt += c[r][q];
        on_rows += on;  // true is -1
      }
      const Index k = k0 + q * kLanes;
      vstore(gv + k, vload(gv + k) + gvt);
      vstore(gb + k, vload(gb + k) - gbt);
      vstore(count + k, vload(count + k) - __builtin_convertvector(on_rows, vdouble));
      on_tile |= on_rows;
    }
    // Sparse activations (the shattering regime): a tile where no neuron is active on any of
    // the R rows adds nothing to W's gradient, so its d-long update is skipped.
    if (!any_lane(on_tile)) continue;
    outer_tile<R>(x, d, ld, k0, c, gWT);
  }
}

// Neurons per L1 block: W^T and gW^T blocks (2 d Kb doubles) in about 16 KiB.
inline Index neuron_block(Index d, Index Kp) {
  Index kb = (1024 / std::max<Index>(1, d)) / kT * kT;
  kb = std::max<Index>(kT, kb);
  return std::min(kb, Kp);
}

// Hessian-vector product, first pass for R rows and the neurons [k_begin, k_end), given the
// activations phi (row stride phi_ld) and a direction u = (U_W, u_b, u_v, u_beta) with U_W^T
// padded like W^T: tt = a (x . U_W,k - u_b,k) is stored (row stride ld) and
// u_v . phi + v . tt, the rows' part of (J u)_i, accumulates in spart.
template <int R>
inline void hvp_forward_tile(const double* X, Index d, Index ld, Index k_begin, Index k_end, const double* UT,
                             const double* ub, const double* uv, const double* v, const double* phi,
                             Index phi_ld, double* tt, vdouble* spart) {
  const double* x[R];
  for (int r = 0; r < R; ++r) x[r] = X + r * d;
  const vdouble zero = {};
  vdouble sp[R];  // in registers: spart may alias the tt stores
  for (int r = 0; r < R; ++r) sp[r] = spart[r];
  for (Index k0 = k_begin; k0 < k_end; k0 += kT) {
    vdouble z[R][kNV];
    affine_tile<R>(x, d, ld, k0, UT, ub, z);
    for (int q = 0; q < kNV; ++q) {
      const vdouble uvv = vload(uv + k0 + q * kLanes);
      const vdouble vv = vload(v + k0 + q * kLanes);
      for (int r = 0; r < R; ++r) {
        const vdouble p = vload(phi + r * phi_ld + k0 + q * kLanes);
        const vdouble t = p > zero ? z[r][q] : zero;
        vstore(tt + r * ld + k0 + q * kLanes, t);
        sp[r] += uvv * p + vv * t;
      }
    }
  }
  for (int r = 0; r < R; ++r) spart[r] = sp[r];
}

// Hessian-vector product, second pass: with s_r = (J u)_r (0 for the residual part alone) and
// rr_r the residual (0 for the Gauss-Newton part alone), adds to the (unnormalised) product
//   v_k:  s phi + rr tt,   w_k:  coef x,   b_k:  -coef,   coef = a (v_k s + u_v,k rr).
template <int R>
inline void hvp_backward_tile(const double* X, const double* s, const double* rr, Index d, Index ld,
                              Index k_begin, Index k_end, const double* v, const double* uv,
                              const double* phi, Index phi_ld, const double* tt, double* gWT, double* gb,
                              double* gv) {
  const double* x[R];
  for (int r = 0; r < R; ++r) x[r] = X + r * d;
  const vdouble zero = {};
  for (Index k0 = k_begin; k0 < k_end; k0 += kT) {
    vdouble c[R][kNV];
    vmask any_on = {};
    for (int q = 0; q < kNV; ++q) {
      const vdouble vv = vload(v + k0 + q * kLanes);
      const vdouble uvv = vload(uv + k0 + q * kLanes);
      vdouble hvt = zero, gbt = zero;
      for (int r = 0; r < R; ++r) {
        const vdouble p = vload(phi + r * phi_ld + k0 + q * kLanes);
        const vdouble t = vload(tt + r * ld + k0 + q * kLanes);
        const vdouble sv = s[r] - zero;
        const vdouble rv = rr[r] - zero;
        hvt += sv * p + rv * t;
        const vdouble cc = vv * sv + uvv * rv;
        const vmask on = p > zero;
        c[r][q] = on ? cc : zero;
        any_on |= on;
        gbt += c[r][q];
      }
      vstore(gv + k0 + q * kLanes, vload(gv + k0 + q * kLanes) + hvt);
      vstore(gb + k0 + q * kLanes, vload(gb + k0 + q * kLanes) - gbt);
    }
    if (!any_lane(any_on)) continue;  // as in backward_tile
    outer_tile<R>(x, d, ld, k0, c, gWT);
  }
}

// z = x . w - b of one neuron (w, b) at m points (idx[0..m), or i0, i0 + 1, ... when idx is
// null), in affine_tile's order of operations (start at -b, add x_j w_j for j = 0, 1, ... with
// fmadd), so that each pre-activation, and hence the mask, is the dense kernels' bit for bit.
// For where few points matter: the certified step (certified_step.cpp) and Hessian products over
// listed active pairs (hessian_operator.cpp). Vectorised across the points (each lane is one
// point's chain); XT is X^T (d x n).
inline void preactivations_at(const double* XT, Index n, Index d, const double* w, double b,
                              const std::int32_t* idx, Index i0, Index m, double* z) {
  const double nb = -b;
  Index a = 0;
  for (; a + kLanes <= m; a += kLanes) {
    vdouble acc;
    for (int l = 0; l < kLanes; ++l) acc[l] = nb;
    for (Index j = 0; j < d; ++j) {
      const double* xj = XT + j * n;
      vdouble xv;
      if (idx != nullptr) {
        for (int l = 0; l < kLanes; ++l) xv[l] = xj[idx[a + l]];
      } else {
        xv = vload(xj + i0 + a);
      }
      vdouble wv;
      for (int l = 0; l < kLanes; ++l) wv[l] = w[j];
      acc = fmadd(xv, wv, acc);
    }
    vstore(z + a, acc);
  }
  for (; a < m; ++a) {  // the last few, one by one
    const Index i = idx != nullptr ? idx[a] : i0 + a;
    double acc = nb;
    for (Index j = 0; j < d; ++j) acc = fmadd(XT[j * n + i], w[j], acc);
    z[a] = acc;
  }
}

}  // namespace flatcore::kernels
