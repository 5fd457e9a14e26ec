// C++ side of the Kernels contract (src/engine/kernels.ts): one function per method, raw pointers, sizes already
// validated by addon.cc. Backward kernels accumulate into their gradients; forward kernels overwrite.
#pragma once

#include <cstdint>

namespace ual {

void layernorm_forward(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd,
                       int64_t N, int64_t C, double eps);
void layernorm_backward(const float* dout, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int64_t N, int64_t C);
void rmsnorm_forward(const float* x, const float* w, float* out, float* rstd, int64_t N, int64_t C, double eps);
void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                      int64_t N, int64_t C);

void gelu_forward(const float* x, float* out, int64_t n);
void gelu_backward(const float* dout, const float* x, float* dx, int64_t n);
void swiglu_forward(const float* gate, const float* up, float* out, int64_t n);
void swiglu_backward(const float* dout, const float* gate, const float* up, float* dgate, float* dup, int64_t n);

void rope_forward(const float* x, float* out, int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0, double theta);
void rope_backward(const float* dout, float* dx, int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0,
                   double theta);

void attention_forward(const float* q, const float* k, const float* v, float* out, float* probs, int64_t B,
                       int64_t Tq, int64_t Tk, int64_t H, int64_t KV, int64_t hd);
void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* probs,
                        float* dq, float* dk, float* dv, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t KV,
                        int64_t hd);

// Causal self-attention reading q, k and v out of one packed projection qkv (B, T, 3, H, hd) (GPT-2's c_attn):
// no split copies; dqkv (same layout) accumulates.
void attention_qkv_forward(const float* qkv, float* out, float* probs, int64_t B, int64_t T, int64_t H, int64_t hd);
void attention_qkv_backward(const float* dout, const float* qkv, const float* probs, float* dqkv, int64_t B, int64_t T,
                            int64_t H, int64_t hd);

void embedding_forward(const int32_t* ids, const float* table, float* out, int64_t N, int64_t C);
void embedding_backward(const int32_t* ids, const float* dout, float* dtable, int64_t N, int64_t C);

void cross_entropy(const float* logits, const int32_t* targets, const float* eps, int64_t N, int64_t V, int style,
                   float* losses, float* dlogits, double gradScale);
// the same toward a sparse teacher q: row n's qK entries are qIds/qProbs[n*qK ..] (kernels.ts crossEntropy)
void cross_entropy_teacher(const float* logits, const int32_t* targets, const float* eps, int64_t N, int64_t V,
                           float* losses, float* dlogits, double gradScale, int64_t qK, const int32_t* qIds,
                           const float* qProbs);

void adamw(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2, double eps,
           double weightDecay, double step);

double sum_squares(const float* x, int64_t n);

// y += alpha * x (gradient accumulation); out (n) = a (n) + b (m) repeated over the n / m rows.
void axpy(float alpha, const float* x, float* y, int64_t n);
void add_rows(const float* a, const float* b, float* out, int64_t n, int64_t m);

// out (N, C) = gelu(x + b) with b (C) broadcast (a linear layer's bias fused into its GELU);
// backward: g = dout * gelu'(x + b); dx += g; db += column sums of g.
void bias_gelu_forward(const float* x, const float* b, float* out, int64_t N, int64_t C);
void bias_gelu_backward(const float* dout, const float* x, const float* b, float* dx, float* db, int64_t N, int64_t C);

}  // namespace ual
