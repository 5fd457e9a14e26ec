// Node-API surface of ual_native.node: one function per Kernels method (same argument order as kernels.ts), taking
// typed arrays zero-copy. Every size is checked against the array lengths here, so a wrong call throws instead of
// corrupting memory; the kernels behind this file trust their inputs.
#include <napi.h>

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "bf16.h"
#include "gemm.h"
#include "kernels.h"

namespace {

// Argument reader for one call: raw napi_* calls (one per typed array) keep the per-call overhead near a microsecond.
struct Args {
  const Napi::CallbackInfo& info;
  napi_env env;
  const char* fn;

  Args(const Napi::CallbackInfo& i, const char* name, size_t count) : info(i), env(i.Env()), fn(name) {
    if (info.Length() < count)
      fail("expects " + std::to_string(count) + " arguments, got " + std::to_string(info.Length()));
  }

  [[noreturn]] void fail(const std::string& msg) const { throw Napi::Error::New(info.Env(), std::string(fn) + ": " + msg); }
  [[noreturn]] void fail_type(const std::string& msg) const {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + msg);
  }

  bool is_null(size_t i) const {
    napi_valuetype t;
    napi_typeof(env, info[i], &t);
    return t == napi_null || t == napi_undefined;
  }

  template <typename T>
  T* typed(size_t i, const char* name, napi_typedarray_type want, const char* wantName, int64_t& len) const {
    napi_typedarray_type type;
    size_t length;
    void* data;
    if (napi_get_typedarray_info(env, info[i], &type, &length, &data, nullptr, nullptr) != napi_ok) {
      napi_value pending;
      napi_get_and_clear_last_exception(env, &pending);
      fail_type(std::string(name) + " must be a " + wantName);
    }
    if (type != want) {
      if (type == napi_float64_array && want == napi_float32_array)
        fail_type(std::string(name) + " is a Float64Array: the native backend takes Float32Array only "
                  "(float64 tensors run on the js backend)");
      fail_type(std::string(name) + " must be a " + wantName);
    }
    len = int64_t(length);
    return static_cast<T*>(data);
  }

  // need is a double so products of several dimensions cannot overflow before the comparison
  float* f32(size_t i, const char* name, double need) const {
    int64_t len;
    float* p = typed<float>(i, name, napi_float32_array, "Float32Array", len);
    check_len(name, len, need);
    return p;
  }
  float* f32_or_null(size_t i, const char* name, double need) const {
    return is_null(i) ? nullptr : f32(i, name, need);
  }
  int32_t* i32(size_t i, const char* name, double need) const {
    int64_t len;
    int32_t* p = typed<int32_t>(i, name, napi_int32_array, "Int32Array", len);
    check_len(name, len, need);
    return p;
  }
  // for arrays whose required length depends on other arrays (embedding tables)
  float* f32_len(size_t i, const char* name, int64_t& len) const {
    return typed<float>(i, name, napi_float32_array, "Float32Array", len);
  }
  uint16_t* bf16_len(size_t i, const char* name, int64_t& len) const {
    return typed<uint16_t>(i, name, napi_uint16_array, "Uint16Array (bfloat16 bits)", len);
  }

  void check_len(const char* name, int64_t len, double need) const {
    if (need > double(len)) {
      char needs[32];
      std::snprintf(needs, sizeof needs, "%.0f", need);
      throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + name + " has " + std::to_string(len) +
                                                  " elements but the sizes given need " + needs);
    }
  }

  double num(size_t i, const char* name) const {
    double d;
    if (napi_get_value_double(env, info[i], &d) != napi_ok) fail_type(std::string(name) + " must be a number");
    return d;
  }

  // a non-negative integer: dimensions fit cblas's int, offsets and strides are exact doubles
  int64_t integer(size_t i, const char* name, double max) const {
    double d = num(i, name);
    if (!(d >= 0 && d <= max && d == std::floor(d)))
      throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + name + " must be an integer in [0, " +
                                                  std::to_string(int64_t(max)) + "], got " + std::to_string(d));
    return int64_t(d);
  }
  int64_t dim(size_t i, const char* name) const { return integer(i, name, 2147483647.0); }
  int64_t offset(size_t i, const char* name) const { return integer(i, name, 9007199254740991.0); }

  bool flag(size_t i) const { return info[i].ToBoolean().Value(); }
};

// Elements one operand of the batched gemm touches: matrices of rows x cols (contiguous), batch of them stride apart.
double span(int64_t off, int64_t batch, int64_t stride, int64_t rows, int64_t cols) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return double(off) + double(batch - 1) * double(stride) + double(rows) * double(cols);
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args a(info, "gemm", 17);
  const bool tA = a.flag(0), tB = a.flag(1);
  const int64_t M = a.dim(2, "M"), N = a.dim(3, "N"), K = a.dim(4, "K");
  const float alpha = float(a.num(5, "alpha")), beta = float(a.num(10, "beta"));
  const int64_t aOff = a.offset(7, "aOff"), bOff = a.offset(9, "bOff"), cOff = a.offset(12, "cOff");
  const int64_t batch = a.dim(13, "batch");
  const int64_t sA = a.offset(14, "strideA"), sB = a.offset(15, "strideB"), sC = a.offset(16, "strideC");
  const bool touchAB = M > 0 && N > 0 && K > 0;
  int64_t la, lb, lc;
  float* A = a.f32_len(6, "A", la);
  float* B = a.f32_len(8, "B", lb);
  float* C = a.f32_len(11, "C", lc);
  if (touchAB) {
    a.check_len("A", la, span(aOff, batch, sA, M, K));
    a.check_len("B", lb, span(bOff, batch, sB, K, N));
  }
  a.check_len("C", lc, span(cOff, batch, sC, M, N));
  const int lda = int(tA ? M : K), ldb = int(tB ? K : N), ldc = int(N);
  for (int64_t b = 0; b < batch; b++)
    ual::sgemm(tA, tB, int(M), int(N), int(K), alpha, A + aOff + b * sA, lda, B + bOff + b * sB, ldb, beta,
               C + cOff + b * sC, ldc);
  return info.Env().Undefined();
}

Napi::Value LayernormForward(const Napi::CallbackInfo& info) {
  Args a(info, "layernormForward", 9);
  const int64_t N = a.dim(6, "N"), C = a.dim(7, "C");
  const double eps = a.num(8, "eps");
  float* x = a.f32(0, "x", double(N) * double(C));
  float* w = a.f32(1, "w", C);
  float* b = a.f32(2, "b", C);
  float* out = a.f32(3, "out", double(N) * double(C));
  float* mean = a.f32(4, "mean", N);
  float* rstd = a.f32(5, "rstd", N);
  ual::layernorm_forward(x, w, b, out, mean, rstd, N, C, eps);
  return info.Env().Undefined();
}

Napi::Value LayernormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "layernormBackward", 10);
  const int64_t N = a.dim(8, "N"), C = a.dim(9, "C");
  float* dout = a.f32(0, "dout", double(N) * double(C));
  float* x = a.f32(1, "x", double(N) * double(C));
  float* w = a.f32(2, "w", C);
  float* mean = a.f32(3, "mean", N);
  float* rstd = a.f32(4, "rstd", N);
  float* dx = a.f32(5, "dx", double(N) * double(C));
  float* dw = a.f32(6, "dw", C);
  float* db = a.f32(7, "db", C);
  ual::layernorm_backward(dout, x, w, mean, rstd, dx, dw, db, N, C);
  return info.Env().Undefined();
}

Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormForward", 7);
  const int64_t N = a.dim(4, "N"), C = a.dim(5, "C");
  const double eps = a.num(6, "eps");
  float* x = a.f32(0, "x", double(N) * double(C));
  float* w = a.f32(1, "w", C);
  float* out = a.f32(2, "out", double(N) * double(C));
  float* rstd = a.f32(3, "rstd", N);
  ual::rmsnorm_forward(x, w, out, rstd, N, C, eps);
  return info.Env().Undefined();
}

Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormBackward", 8);
  const int64_t N = a.dim(6, "N"), C = a.dim(7, "C");
  float* dout = a.f32(0, "dout", double(N) * double(C));
  float* x = a.f32(1, "x", double(N) * double(C));
  float* w = a.f32(2, "w", C);
  float* rstd = a.f32(3, "rstd", N);
  float* dx = a.f32(4, "dx", double(N) * double(C));
  float* dw = a.f32(5, "dw", C);
  ual::rmsnorm_backward(dout, x, w, rstd, dx, dw, N, C);
  return info.Env().Undefined();
}

Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Args a(info, "geluForward", 3);
  const int64_t n = a.offset(2, "n");
  ual::gelu_forward(a.f32(0, "x", n), a.f32(1, "out", n), n);
  return info.Env().Undefined();
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "geluBackward", 4);
  const int64_t n = a.offset(3, "n");
  ual::gelu_backward(a.f32(0, "dout", n), a.f32(1, "x", n), a.f32(2, "dx", n), n);
  return info.Env().Undefined();
}

Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  Args a(info, "swigluForward", 4);
  const int64_t n = a.offset(3, "n");
  ual::swiglu_forward(a.f32(0, "gate", n), a.f32(1, "up", n), a.f32(2, "out", n), n);
  return info.Env().Undefined();
}

Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "swigluBackward", 6);
  const int64_t n = a.offset(5, "n");
  ual::swiglu_backward(a.f32(0, "dout", n), a.f32(1, "gate", n), a.f32(2, "up", n), a.f32(3, "dgate", n),
                       a.f32(4, "dup", n), n);
  return info.Env().Undefined();
}

void rope_dims(const Args& a, int64_t& B, int64_t& T, int64_t& H, int64_t& hd, int64_t& pos0, double& theta) {
  B = a.dim(2, "B"), T = a.dim(3, "T"), H = a.dim(4, "H"), hd = a.dim(5, "hd");
  pos0 = a.dim(6, "pos0");
  theta = a.num(7, "theta");
  if (hd % 2 != 0) a.fail("hd must be even for rotate-half RoPE, got " + std::to_string(hd));
}

Napi::Value RopeForward(const Napi::CallbackInfo& info) {
  Args a(info, "ropeForward", 8);
  int64_t B, T, H, hd, pos0;
  double theta;
  rope_dims(a, B, T, H, hd, pos0, theta);
  const double n = double(B) * double(T) * double(H) * double(hd);
  ual::rope_forward(a.f32(0, "x", n), a.f32(1, "out", n), B, T, H, hd, pos0, theta);
  return info.Env().Undefined();
}

Napi::Value RopeBackward(const Napi::CallbackInfo& info) {
  Args a(info, "ropeBackward", 8);
  int64_t B, T, H, hd, pos0;
  double theta;
  rope_dims(a, B, T, H, hd, pos0, theta);
  const double n = double(B) * double(T) * double(H) * double(hd);
  ual::rope_backward(a.f32(0, "dout", n), a.f32(1, "dx", n), B, T, H, hd, pos0, theta);
  return info.Env().Undefined();
}

struct AttnDims {
  int64_t B, Tq, Tk, H, KV, hd;
};

AttnDims attn_dims(const Args& a, size_t first) {
  AttnDims d{a.dim(first, "B"), a.dim(first + 1, "Tq"), a.dim(first + 2, "Tk"),
             a.dim(first + 3, "H"), a.dim(first + 4, "KV"), a.dim(first + 5, "hd")};
  if (d.Tq > d.Tk) a.fail("Tq (" + std::to_string(d.Tq) + ") must be <= Tk (" + std::to_string(d.Tk) + ")");
  if (d.KV == 0 || d.H % d.KV != 0)
    a.fail("H (" + std::to_string(d.H) + ") must be a multiple of KV (" + std::to_string(d.KV) + ")");
  // row strides go to cblas as int
  if (d.H * d.hd > 2147483647) a.fail("H * hd does not fit a 32-bit BLAS leading dimension");
  return d;
}

Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionForward", 11);
  const AttnDims d = attn_dims(a, 5);
  const double nq = double(d.B) * double(d.Tq) * double(d.H) * double(d.hd);
  const double nkv = double(d.B) * double(d.Tk) * double(d.KV) * double(d.hd);
  float* q = a.f32(0, "q", nq);
  float* k = a.f32(1, "k", nkv);
  float* v = a.f32(2, "v", nkv);
  float* out = a.f32(3, "out", nq);
  float* probs = a.f32_or_null(4, "probs", double(d.B) * double(d.H) * double(d.Tq) * double(d.Tk));
  if (d.B && d.Tq && d.H && d.hd) ual::attention_forward(q, k, v, out, probs, d.B, d.Tq, d.Tk, d.H, d.KV, d.hd);
  return info.Env().Undefined();
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward", 14);
  const AttnDims d = attn_dims(a, 8);
  const double nq = double(d.B) * double(d.Tq) * double(d.H) * double(d.hd);
  const double nkv = double(d.B) * double(d.Tk) * double(d.KV) * double(d.hd);
  float* dout = a.f32(0, "dout", nq);
  float* q = a.f32(1, "q", nq);
  float* k = a.f32(2, "k", nkv);
  float* v = a.f32(3, "v", nkv);
  float* probs = a.f32_or_null(4, "probs", double(d.B) * double(d.H) * double(d.Tq) * double(d.Tk));
  float* dq = a.f32(5, "dq", nq);
  float* dk = a.f32(6, "dk", nkv);
  float* dv = a.f32(7, "dv", nkv);
  if (d.B && d.Tq && d.H && d.hd)
    ual::attention_backward(dout, q, k, v, probs, dq, dk, dv, d.B, d.Tq, d.Tk, d.H, d.KV, d.hd);
  return info.Env().Undefined();
}

// ids must index rows of the table: checked here because a bad id would read or write outside the table
void check_ids(const Args& a, const int32_t* ids, int64_t N, int64_t rows) {
  for (int64_t n = 0; n < N; n++)
    if (ids[n] < 0 || ids[n] >= rows)
      throw Napi::RangeError::New(a.info.Env(), std::string(a.fn) + ": ids[" + std::to_string(n) + "] = " +
                                                    std::to_string(ids[n]) + " is outside the table's " +
                                                    std::to_string(rows) + " rows");
}

// out (N, C) = rows ids of a (rows, C) table, float32 or bfloat16 bits: the two embedding forwards
template <typename T>
Napi::Value GatherRows(const Napi::CallbackInfo& info, const char* fn, napi_typedarray_type type, const char* typeName,
                       void (*gather)(const int32_t*, const T*, float*, int64_t, int64_t)) {
  Args a(info, fn, 5);
  const int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  int32_t* ids = a.i32(0, "ids", N);
  int64_t tlen;
  T* table = a.typed<T>(1, "table", type, typeName, tlen);
  float* out = a.f32(2, "out", double(N) * double(C));
  if (C == 0) return info.Env().Undefined();
  check_ids(a, ids, N, tlen / C);
  gather(ids, table, out, N, C);
  return info.Env().Undefined();
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  return GatherRows<float>(info, "embeddingForward", napi_float32_array, "Float32Array", ual::embedding_forward);
}

// bfloat16 frozen weights (bf16.cc): the contract's gemmBf16 and embeddingForwardBf16
Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  Args a(info, "gemmBf16", 11);
  const bool tB = a.flag(0);
  const int64_t M = a.dim(1, "M"), N = a.dim(2, "N"), K = a.dim(3, "K");
  const float alpha = float(a.num(4, "alpha")), beta = float(a.num(8, "beta"));
  const int64_t aOff = a.offset(6, "aOff"), cOff = a.offset(10, "cOff");
  int64_t la, lb, lc;
  float* A = a.f32_len(5, "A", la);
  uint16_t* B = a.bf16_len(7, "B", lb);
  float* C = a.f32_len(9, "C", lc);
  if (M > 0 && N > 0 && K > 0) {
    a.check_len("A", la, span(aOff, 1, 0, M, K));
    a.check_len("B", lb, double(N) * double(K));
  }
  a.check_len("C", lc, span(cOff, 1, 0, M, N));
  ual::gemm_bf16(tB, int(M), int(N), int(K), alpha, A + aOff, int(K), B, beta, C + cOff, int(N));
  return info.Env().Undefined();
}

Napi::Value EmbeddingForwardBf16(const Napi::CallbackInfo& info) {
  return GatherRows<uint16_t>(info, "embeddingForwardBf16", napi_uint16_array, "Uint16Array (bfloat16 bits)",
                              ual::embedding_forward_bf16);
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBackward", 5);
  const int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  int32_t* ids = a.i32(0, "ids", N);
  float* dout = a.f32(1, "dout", double(N) * double(C));
  int64_t tlen;
  float* dtable = a.f32_len(2, "dtable", tlen);
  if (C == 0) return info.Env().Undefined();
  check_ids(a, ids, N, tlen / C);
  ual::embedding_backward(ids, dout, dtable, N, C);
  return info.Env().Undefined();
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "crossEntropy", 9);
  const int64_t N = a.dim(3, "N"), V = a.dim(4, "V");
  const double style = a.num(5, "style");
  if (style != 0 && style != 1) a.fail("style must be EPS_STYLE_PAPER (0) or EPS_STYLE_HF (1)");
  const double gradScale = a.num(8, "gradScale");
  float* logits = a.f32(0, "logits", double(N) * double(V));
  int32_t* targets = a.i32(1, "targets", N);
  float* eps = a.f32(2, "eps", N);
  float* losses = a.f32(6, "losses", N);
  float* dlogits = a.f32_or_null(7, "dlogits", double(N) * double(V));
  for (int64_t n = 0; n < N; n++)
    if (targets[n] >= V)
      throw Napi::RangeError::New(info.Env(), "crossEntropy: targets[" + std::to_string(n) + "] = " +
                                                  std::to_string(targets[n]) + " is not below V = " +
                                                  std::to_string(V) + " (negative targets mean ignored)");
  // optional teacher target: qK, qIds (N*qK), qProbs (N*qK); qK absent or 0 keeps the uniform style
  const int64_t qK = info.Length() > 9 && !a.is_null(9) ? a.dim(9, "qK") : 0;
  if (qK == 0) {
    ual::cross_entropy(logits, targets, eps, N, V, int(style), losses, dlogits, gradScale);
    return info.Env().Undefined();
  }
  if (info.Length() < 12) a.fail("a teacher target (qK > 0) needs qIds and qProbs");
  int32_t* qIds = a.i32(10, "qIds", double(N) * double(qK));
  float* qProbs = a.f32(11, "qProbs", double(N) * double(qK));
  for (int64_t n = 0; n < N; n++) {
    if (targets[n] < 0) continue;
    for (int64_t j = n * qK; j < (n + 1) * qK; j++)
      if (qIds[j] < 0 || qIds[j] >= V)
        throw Napi::RangeError::New(info.Env(), "crossEntropy: qIds[" + std::to_string(j) + "] = " +
                                                    std::to_string(qIds[j]) + " is outside [0, V = " +
                                                    std::to_string(V) + ")");
  }
  ual::cross_entropy_teacher(logits, targets, eps, N, V, losses, dlogits, gradScale, qK, qIds, qProbs);
  return info.Env().Undefined();
}

Napi::Value Adamw(const Napi::CallbackInfo& info) {
  Args a(info, "adamw", 11);
  const int64_t n = a.offset(4, "n");
  const double lr = a.num(5, "lr"), b1 = a.num(6, "beta1"), b2 = a.num(7, "beta2"), eps = a.num(8, "eps");
  const double wd = a.num(9, "weightDecay"), step = a.num(10, "step");
  if (!(step >= 1)) a.fail("step counts from 1, got " + std::to_string(step));
  ual::adamw(a.f32(0, "p", n), a.f32(1, "g", n), a.f32(2, "m", n), a.f32(3, "v", n), n, lr, b1, b2, eps, wd, step);
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args a(info, "sumSquares", 2);
  const int64_t n = a.offset(1, "n");
  return Napi::Number::New(info.Env(), ual::sum_squares(a.f32(0, "x", n), n));
}

Napi::Value AttentionQkvForward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionQkvForward", 7);
  const int64_t B = a.dim(3, "B"), T = a.dim(4, "T"), H = a.dim(5, "H"), hd = a.dim(6, "hd");
  // row strides of 3 * H * hd go to cblas as int
  if (3 * H * hd > 2147483647) a.fail("3 * H * hd does not fit a 32-bit BLAS leading dimension");
  const double n = double(B) * double(T) * double(H) * double(hd);
  float* qkv = a.f32(0, "qkv", 3 * n);
  float* out = a.f32(1, "out", n);
  float* probs = a.f32_or_null(2, "probs", double(B) * double(H) * double(T) * double(T));
  if (B && T && H && hd) ual::attention_qkv_forward(qkv, out, probs, B, T, H, hd);
  return info.Env().Undefined();
}

Napi::Value AttentionQkvBackward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionQkvBackward", 8);
  const int64_t B = a.dim(4, "B"), T = a.dim(5, "T"), H = a.dim(6, "H"), hd = a.dim(7, "hd");
  if (3 * H * hd > 2147483647) a.fail("3 * H * hd does not fit a 32-bit BLAS leading dimension");
  const double n = double(B) * double(T) * double(H) * double(hd);
  float* dout = a.f32(0, "dout", n);
  float* qkv = a.f32(1, "qkv", 3 * n);
  float* probs = a.f32_or_null(2, "probs", double(B) * double(H) * double(T) * double(T));
  float* dqkv = a.f32(3, "dqkv", 3 * n);
  if (B && T && H && hd) ual::attention_qkv_backward(dout, qkv, probs, dqkv, B, T, H, hd);
  return info.Env().Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args a(info, "axpy", 4);
  const float alpha = float(a.num(0, "alpha"));
  const int64_t n = a.offset(3, "n");
  ual::axpy(alpha, a.f32(1, "x", n), a.f32(2, "y", n), n);
  return info.Env().Undefined();
}

Napi::Value AddRows(const Napi::CallbackInfo& info) {
  Args a(info, "addRows", 5);
  const int64_t n = a.offset(3, "n"), m = a.offset(4, "m");
  if (m == 0 ? n != 0 : n % m != 0)
    a.fail("n (" + std::to_string(n) + ") must be a multiple of m (" + std::to_string(m) + ")");
  float* x = a.f32(0, "a", n);
  float* b = a.f32(1, "b", m);
  float* out = a.f32(2, "out", n);
  if (n) ual::add_rows(x, b, out, n, m);
  return info.Env().Undefined();
}

Napi::Value BiasGeluForward(const Napi::CallbackInfo& info) {
  Args a(info, "biasGeluForward", 5);
  const int64_t N = a.dim(3, "N"), C = a.dim(4, "C");
  ual::bias_gelu_forward(a.f32(0, "x", double(N) * double(C)), a.f32(1, "b", C), a.f32(2, "out", double(N) * double(C)),
                         N, C);
  return info.Env().Undefined();
}

Napi::Value BiasGeluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "biasGeluBackward", 7);
  const int64_t N = a.dim(5, "N"), C = a.dim(6, "C");
  const double n = double(N) * double(C);
  ual::bias_gelu_backward(a.f32(0, "dout", n), a.f32(1, "x", n), a.f32(2, "b", C), a.f32(3, "dx", n),
                          a.f32(4, "db", C), N, C);
  return info.Env().Undefined();
}

#ifndef UAL_BUILD_FLAGS
#define UAL_BUILD_FLAGS "(unknown)"
#endif

std::string build_flags() {
  std::string s = UAL_BUILD_FLAGS;
#if defined(__clang__)
  s += std::string(" [clang ") + __VERSION__ + "]";
#elif defined(__GNUC__)
  s += std::string(" [gcc ") + __VERSION__ + "]";
#endif
#if defined(__AVX512F__)
  s += " avx512f";
#endif
#if defined(__AVX2__)
  s += " avx2";
#endif
#if defined(__FMA__)
  s += " fma";
#endif
#if defined(__ARM_NEON)
  s += " neon";
#endif
  return s;
}

// The binding's version: raise it with every change to a function's arguments or meaning, and NATIVE_ABI in
// src/engine/backends/native.ts with it. A binary built from older sources would otherwise be loaded and, e.g., ignore
// arguments it does not know (a teacher target trained as the uniform loss, without an error).
constexpr int UAL_NATIVE_ABI = 3;

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("abi", Napi::Number::New(info.Env(), UAL_NATIVE_ABI));
  o.Set("openblas", Napi::Boolean::New(info.Env(), ual::have_openblas()));
  o.Set("threads", Napi::Number::New(info.Env(), ual::get_threads()));
  o.Set("flags", Napi::String::New(info.Env(), build_flags()));
  o.Set("blas", Napi::String::New(info.Env(), ual::blas_config()));
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads", 1);
  const int64_t n = a.integer(0, "n", 1024);
  if (n < 1) a.fail("n must be at least 1");
  ual::set_threads(int(n));
  return info.Env().Undefined();
}

// A container's CPU quota (cgroup v2 cpu.max, v1 cfs quota) in whole cores, 0 when unlimited: `docker --cpus=2` on
// a 64-core host leaves the affinity mask at 64, and 64 spinning BLAS threads on 2 cores' worth of time is very slow.
int cgroup_cpu_quota() {
  long long quota = -1, period = 0;
  if (FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r")) {
    char q[32] = {0};
    if (std::fscanf(f, "%31s %lld", q, &period) == 2 && std::strcmp(q, "max") != 0) quota = std::atoll(q);
    std::fclose(f);
  } else if (FILE* fq = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r")) {
    if (std::fscanf(fq, "%lld", &quota) != 1) quota = -1;
    std::fclose(fq);
    if (FILE* fp = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r")) {
      if (std::fscanf(fp, "%lld", &period) != 1) period = 0;
      std::fclose(fp);
    }
  }
  if (quota <= 0 || period <= 0) return 0;
  return int((quota + period - 1) / period);
}

// cores this process may run on: the affinity mask (taskset, cpusets), capped by a cgroup CPU quota
int usable_cores() {
  int n = 0;
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  int quota = cgroup_cpu_quota();
  if (quota > 0 && (n == 0 || quota < n)) n = quota;
#endif
  if (n <= 0) n = int(std::thread::hardware_concurrency());
  return n > 0 ? n : 1;
}

// Page in a fresh (all-zero) Float32Array with one madvise(MADV_POPULATE_WRITE) over its whole pages instead of one
// page fault per 4 KiB inside the kernels (measured here: 0.28 ms per MB against 0.4-0.9 ms faulting from one thread,
// more from two). Returns false when the kernel has no MADV_POPULATE_WRITE (Linux < 5.14): the caller touches the
// pages itself. The array must be fresh: populating writes nothing, it only maps zero-filled pages that were absent.
Napi::Value Populate(const Napi::CallbackInfo& info) {
  Args a(info, "populate", 1);
  int64_t len;
  float* p = a.typed<float>(0, "buf", napi_float32_array, "Float32Array", len);
  bool ok = false;
#if defined(__linux__)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t hi = (reinterpret_cast<uintptr_t>(p + len)) & ~(page - 1);
  ok = hi <= lo || madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE) == 0;
#endif
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // default thread count: UAL_THREADS, else every usable core
  int threads = usable_cores();
  if (const char* e = std::getenv("UAL_THREADS")) {
    int n = std::atoi(e);
    if (n > 0) threads = n;
  }
  ual::set_threads(threads);

  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("gemmBf16", Napi::Function::New(env, GemmBf16, "gemmBf16"));
  exports.Set("embeddingForwardBf16", Napi::Function::New(env, EmbeddingForwardBf16, "embeddingForwardBf16"));
  exports.Set("layernormForward", Napi::Function::New(env, LayernormForward, "layernormForward"));
  exports.Set("layernormBackward", Napi::Function::New(env, LayernormBackward, "layernormBackward"));
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward, "rmsnormForward"));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward, "rmsnormBackward"));
  exports.Set("geluForward", Napi::Function::New(env, GeluForward, "geluForward"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward, "swigluForward"));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward, "swigluBackward"));
  exports.Set("ropeForward", Napi::Function::New(env, RopeForward, "ropeForward"));
  exports.Set("ropeBackward", Napi::Function::New(env, RopeBackward, "ropeBackward"));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward, "attentionBackward"));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy, "crossEntropy"));
  exports.Set("adamw", Napi::Function::New(env, Adamw, "adamw"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("attentionQkvForward", Napi::Function::New(env, AttentionQkvForward, "attentionQkvForward"));
  exports.Set("attentionQkvBackward", Napi::Function::New(env, AttentionQkvBackward, "attentionQkvBackward"));
  exports.Set("axpy", Napi::Function::New(env, Axpy, "axpy"));
  exports.Set("addRows", Napi::Function::New(env, AddRows, "addRows"));
  exports.Set("biasGeluForward", Napi::Function::New(env, BiasGeluForward, "biasGeluForward"));
  exports.Set("biasGeluBackward", Napi::Function::New(env, BiasGeluBackward, "biasGeluBackward"));
  exports.Set("populate", Napi::Function::New(env, Populate, "populate"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ual_native, Init)
