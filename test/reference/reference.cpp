#include "reference.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace megalide::ref {

Array::Array(std::vector<int> s, double fill) : shape(std::move(s)) {
    long long n = 1;
    for (int e : shape) n *= e;
    data.assign(static_cast<size_t>(n), fill);
}

long long Array::offset(const std::vector<int> &index) const {
    long long flat = 0;
    for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
    return flat;
}

std::vector<int> unravel(long long flat, const std::vector<int> &shape) {
    std::vector<int> index(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        index[d] = static_cast<int>(flat % shape[d]);
        flat /= shape[d];
    }
    return index;
}

Array transpose(const Array &x, const std::vector<int> &perm) {
    std::vector<int> shape;
    for (int p : perm) shape.push_back(x.shape[p]);
    Array out(shape);
    for (long long f = 0; f < out.size(); ++f) {
        std::vector<int> o = unravel(f, out.shape), i(o.size());
        for (size_t d = 0; d < perm.size(); ++d) i[perm[d]] = o[d];
        out.data[f] = x.at(i);
    }
    return out;
}

Array conv(const Array &x, const Array &w, const Array &b, const ConvAttrs &a) {
    const int N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int M = w.shape[0], CG = w.shape[1], KH = w.shape[2], KW = w.shape[3];
    const int OH = (H + a.pad_top + a.pad_bottom - a.dilation_h * (KH - 1) - 1) / a.stride_h + 1;
    const int OW = (W + a.pad_left + a.pad_right - a.dilation_w * (KW - 1) - 1) / a.stride_w + 1;
    assert(CG * a.group == C);
    const int MG = M / a.group;
    Array out({N, M, OH, OW});
    for (int n = 0; n < N; ++n)
        for (int m = 0; m < M; ++m)
            for (int oh = 0; oh < OH; ++oh)
                for (int ow = 0; ow < OW; ++ow) {
                    double acc = b.size() ? b.data[m] : 0.0;
                    const int g = m / MG;
                    for (int c = 0; c < CG; ++c)
                        for (int kh = 0; kh < KH; ++kh)
                            for (int kw = 0; kw < KW; ++kw) {
                                const int ih = oh * a.stride_h - a.pad_top + kh * a.dilation_h;
                                const int iw = ow * a.stride_w - a.pad_left + kw * a.dilation_w;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                const long long xi = ((static_cast<long long>(n) * C + g * CG + c) * H + ih) * W + iw;
                                const long long wi = ((static_cast<long long>(m) * CG + c) * KH + kh) * KW + kw;
                                acc += x.data[xi] * w.data[wi];
                            }
                    out.at({n, m, oh, ow}) = acc;
                }
    return out;
}

namespace {

std::vector<int> broadcast(const std::vector<int> &a, const std::vector<int> &b) {
    const size_t r = std::max(a.size(), b.size());
    std::vector<int> out(r);
    for (size_t i = 0; i < r; ++i) {
        const int ea = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int eb = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (ea != eb && ea != 1 && eb != 1) throw std::invalid_argument("shapes do not broadcast");
        out[i] = std::max(ea, eb);
    }
    return out;
}

// The element of x that a broadcast result index reads.
double read_broadcast(const Array &x, const std::vector<int> &index) {
    const size_t skip = index.size() - x.shape.size();
    std::vector<int> own(x.shape.size());
    for (size_t d = 0; d < own.size(); ++d) own[d] = x.shape[d] == 1 ? 0 : index[skip + d];
    return x.at(own);
}

}  // namespace

Array gemm(const Array &a, const Array &b, const Array *c, bool trans_a, bool trans_b,
           double alpha, double beta) {
    const int M = trans_a ? a.shape[1] : a.shape[0], K = trans_a ? a.shape[0] : a.shape[1];
    const int N = trans_b ? b.shape[0] : b.shape[1];
    Array out({M, N});
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            double acc = 0;
            for (int k = 0; k < K; ++k) {
                acc += (trans_a ? a.at({k, i}) : a.at({i, k})) *
                       (trans_b ? b.at({j, k}) : b.at({k, j}));
            }
            out.at({i, j}) = alpha * acc + (c ? beta * read_broadcast(*c, {i, j}) : 0.0);
        }
    return out;
}

Array matmul(const Array &a_in, const Array &b_in) {
    if (a_in.rank() >= 2 && b_in.rank() == 2) {
        // A matrix B (a Linear layer's weight): every leading axis of A is a row; plain loops.
        const int K = a_in.shape.back(), N = b_in.shape[1];
        if (b_in.shape[0] != K) throw std::invalid_argument("matmul: inner dimensions differ");
        std::vector<int> shape = a_in.shape;
        shape.back() = N;
        Array out(shape);
        const long long rows = a_in.size() / K;
        for (long long i = 0; i < rows; ++i)
            for (int k = 0; k < K; ++k) {
                const double av = a_in.data[i * K + k];
                for (int j = 0; j < N; ++j) out.data[i * N + j] += av * b_in.data[static_cast<long long>(k) * N + j];
            }
        return out;
    }
    Array a = a_in, b = b_in;
    if (a.rank() == 1) a.shape.insert(a.shape.begin(), 1);
    if (b.rank() == 1) b.shape.push_back(1);
    const int M = a.shape[a.rank() - 2], K = a.shape[a.rank() - 1], N = b.shape[b.rank() - 1];
    std::vector<int> ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
    std::vector<int> batch = broadcast(ab, bb);
    std::vector<int> shape = batch;
    shape.push_back(M);
    shape.push_back(N);
    Array out(shape);
    for (long long f = 0; f < out.size(); ++f) {
        std::vector<int> idx = unravel(f, shape);
        double acc = 0;
        for (int k = 0; k < K; ++k) {
            std::vector<int> ia(idx.begin(), idx.end() - 2), ib = ia;
            ia.push_back(idx[idx.size() - 2]);
            ia.push_back(k);
            ib.push_back(k);
            ib.push_back(idx.back());
            acc += read_broadcast(a, ia) * read_broadcast(b, ib);
        }
        out.data[f] = acc;
    }
    // Drop the promoted axes.
    std::vector<int> final_shape = batch;
    if (a_in.rank() != 1) final_shape.push_back(M);
    if (b_in.rank() != 1) final_shape.push_back(N);
    out.shape = final_shape;
    return out;
}

Array binary(const Array &a, const Array &b, const std::function<double(double, double)> &op) {
    Array out(broadcast(a.shape, b.shape));
    for (long long f = 0; f < out.size(); ++f) {
        std::vector<int> idx = unravel(f, out.shape);
        out.data[f] = op(read_broadcast(a, idx), read_broadcast(b, idx));
    }
    return out;
}

Array unary(const Array &x, const std::function<double(double)> &op) {
    Array out = x;
    for (double &v : out.data) v = op(v);
    return out;
}

Array batchnorm(const Array &x, const Array &scale, const Array &bias, const Array &mean,
                const Array &var, double epsilon) {
    Array out = x;
    for (long long f = 0; f < out.size(); ++f) {
        const int c = unravel(f, x.shape)[1];
        out.data[f] = (x.data[f] - mean.data[c]) / std::sqrt(var.data[c] + epsilon) * scale.data[c] +
                      bias.data[c];
    }
    return out;
}

Array layernorm(const Array &x, const Array &gamma, const Array &beta, int axis, double epsilon,
                bool rms) {
    long long inner = 1;
    for (int d = axis; d < x.rank(); ++d) inner *= x.shape[d];
    const long long rows = x.size() / inner;
    Array out = x;
    for (long long r = 0; r < rows; ++r) {
        const double *row = &x.data[r * inner];
        double mean = 0;
        if (!rms) {
            for (long long i = 0; i < inner; ++i) mean += row[i];
            mean /= static_cast<double>(inner);
        }
        double var = 0;
        for (long long i = 0; i < inner; ++i) var += (row[i] - mean) * (row[i] - mean);
        var /= static_cast<double>(inner);
        for (long long i = 0; i < inner; ++i) {
            double y = (row[i] - mean) / std::sqrt(var + epsilon) * gamma.data[i];
            if (beta.size()) y += beta.data[i];
            out.data[r * inner + i] = y;
        }
    }
    return out;
}

namespace {

int pool_extent(int in, int pad_begin, int pad_end, int kernel, int stride, int dilation, bool ceil) {
    const int span = dilation * (kernel - 1) + 1;
    const double exact = static_cast<double>(in + pad_begin + pad_end - span) / stride;
    int out = static_cast<int>(ceil ? std::ceil(exact) : std::floor(exact)) + 1;
    if (ceil && (out - 1) * stride >= in + pad_begin) --out;  // PyTorch: no window starts in the padding
    return out;
}

template <typename Body>
Array pool(const Array &x, const PoolAttrs &a, Body body) {
    const int N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int OH = pool_extent(H, a.pad_top, a.pad_bottom, a.kernel_h, a.stride_h, a.dilation_h, a.ceil_mode);
    const int OW = pool_extent(W, a.pad_left, a.pad_right, a.kernel_w, a.stride_w, a.dilation_w, a.ceil_mode);
    Array out({N, C, OH, OW});
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c)
            for (int oh = 0; oh < OH; ++oh)
                for (int ow = 0; ow < OW; ++ow) out.at({n, c, oh, ow}) = body(n, c, oh, ow, H, W);
    return out;
}

}  // namespace

Array max_pool(const Array &x, const PoolAttrs &a) {
    return pool(x, a, [&](int n, int c, int oh, int ow, int H, int W) {
        double best = -std::numeric_limits<double>::infinity();
        for (int kh = 0; kh < a.kernel_h; ++kh)
            for (int kw = 0; kw < a.kernel_w; ++kw) {
                const int ih = oh * a.stride_h - a.pad_top + kh * a.dilation_h;
                const int iw = ow * a.stride_w - a.pad_left + kw * a.dilation_w;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) best = std::max(best, x.at({n, c, ih, iw}));
            }
        return best;
    });
}

Array avg_pool(const Array &x, const PoolAttrs &a) {
    return pool(x, a, [&](int n, int c, int oh, int ow, int H, int W) {
        double sum = 0;
        int inside = 0, in_padded = 0;
        for (int kh = 0; kh < a.kernel_h; ++kh)
            for (int kw = 0; kw < a.kernel_w; ++kw) {
                const int ih = oh * a.stride_h - a.pad_top + kh;
                const int iw = ow * a.stride_w - a.pad_left + kw;
                // Positions inside the padded frame count when count_include_pad is set.
                if (ih < H + a.pad_bottom && iw < W + a.pad_right) ++in_padded;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                    sum += x.at({n, c, ih, iw});
                    ++inside;
                }
            }
        return sum / (a.count_include_pad ? in_padded : inside);
    });
}

Array global_avg_pool(const Array &x) {
    Array out({x.shape[0], x.shape[1], 1, 1});
    const int hw = x.shape[2] * x.shape[3];
    for (long long f = 0; f < out.size(); ++f) {
        double s = 0;
        for (int i = 0; i < hw; ++i) s += x.data[f * hw + i];
        out.data[f] = s / hw;
    }
    return out;
}

Array global_max_pool(const Array &x) {
    Array out({x.shape[0], x.shape[1], 1, 1});
    const int hw = x.shape[2] * x.shape[3];
    for (long long f = 0; f < out.size(); ++f) {
        double m = -std::numeric_limits<double>::infinity();
        for (int i = 0; i < hw; ++i) m = std::max(m, x.data[f * hw + i]);
        out.data[f] = m;
    }
    return out;
}

Array softmax(const Array &x, int axis, bool log_form) {
    Array out = x;
    const int extent = x.shape[axis];
    for (long long f = 0; f < x.size(); ++f) {
        std::vector<int> idx = unravel(f, x.shape);
        double m = -std::numeric_limits<double>::infinity();
        for (int i = 0; i < extent; ++i) {
            idx[axis] = i;
            m = std::max(m, x.at(idx));
        }
        double s = 0;
        for (int i = 0; i < extent; ++i) {
            idx[axis] = i;
            s += std::exp(x.at(idx) - m);
        }
        out.data[f] = log_form ? (x.data[f] - m) - std::log(s) : std::exp(x.data[f] - m) / s;
    }
    return out;
}

Array reduce(const Array &x, std::vector<int> axes, bool keepdims, Reduce kind) {
    std::vector<bool> reduced(x.shape.size(), axes.empty());
    for (int a : axes) reduced[a < 0 ? a + x.rank() : a] = true;
    std::vector<int> kept_shape;
    for (int d = 0; d < x.rank(); ++d) kept_shape.push_back(reduced[d] ? 1 : x.shape[d]);
    Array out(kept_shape, kind == Reduce::Max ? -std::numeric_limits<double>::infinity() : 0.0);
    std::vector<int> count(out.data.size(), 0);
    for (long long f = 0; f < x.size(); ++f) {
        std::vector<int> idx = unravel(f, x.shape);
        for (int d = 0; d < x.rank(); ++d) if (reduced[d]) idx[d] = 0;
        const long long o = out.offset(idx);
        out.data[o] = kind == Reduce::Max ? std::max(out.data[o], x.data[f]) : out.data[o] + x.data[f];
        ++count[o];
    }
    if (kind == Reduce::Mean) for (size_t o = 0; o < out.data.size(); ++o) out.data[o] /= count[o];
    if (!keepdims) {
        std::vector<int> shape;
        for (int d = 0; d < x.rank(); ++d) if (!reduced[d]) shape.push_back(x.shape[d]);
        out.shape = shape;
    }
    return out;
}

Array concat(const std::vector<Array> &xs, int axis) {
    std::vector<int> shape = xs[0].shape;
    shape[axis] = 0;
    for (const Array &x : xs) shape[axis] += x.shape[axis];
    Array out(shape);
    for (long long f = 0; f < out.size(); ++f) {
        std::vector<int> idx = unravel(f, shape);
        size_t which = 0;
        while (idx[axis] >= xs[which].shape[axis]) idx[axis] -= xs[which++].shape[axis];
        out.data[f] = xs[which].at(idx);
    }
    return out;
}

Array pad(const Array &x, const std::vector<int> &begin, const std::vector<int> &end,
          PadKind kind, double value) {
    std::vector<int> shape = x.shape;
    for (int d = 0; d < x.rank(); ++d) shape[d] += begin[d] + end[d];
    Array out(shape);
    for (long long f = 0; f < out.size(); ++f) {
        std::vector<int> idx = unravel(f, shape);
        bool inside = true;
        for (int d = 0; d < x.rank(); ++d) {
            int i = idx[d] - begin[d];
            const int n = x.shape[d];
            if (i < 0 || i >= n) {
                inside = false;
                if (kind == PadKind::Edge) i = i < 0 ? 0 : n - 1;
                if (kind == PadKind::Reflect) i = i < 0 ? -i : 2 * (n - 1) - i;
            }
            idx[d] = i;
        }
        out.data[f] = (inside || kind != PadKind::Constant) ? x.at(idx) : value;
    }
    return out;
}

Array attention(const Array &q, const Array &k, const Array &v, bool causal, double scale) {
    const int r = q.rank();
    const int Tq = q.shape[r - 2], D = q.shape[r - 1], Tk = k.shape[r - 2], E = v.shape[r - 1];
    long long batches = 1;
    for (int d = 0; d < r - 2; ++d) batches *= q.shape[d];
    std::vector<int> shape(q.shape.begin(), q.shape.end() - 1);
    shape.push_back(E);
    Array out(shape);
    std::vector<double> p(static_cast<size_t>(Tk));
    for (long long b = 0; b < batches; ++b)
        for (int i = 0; i < Tq; ++i) {
            double m = -std::numeric_limits<double>::infinity();
            for (int j = 0; j < Tk; ++j) {
                double s = 0;
                for (int d = 0; d < D; ++d) s += q.data[(b * Tq + i) * D + d] * k.data[(b * Tk + j) * D + d];
                p[j] = (causal && j > i) ? -std::numeric_limits<double>::infinity() : s * scale;
                m = std::max(m, p[j]);
            }
            double sum = 0;
            for (int j = 0; j < Tk; ++j) sum += (p[j] = std::exp(p[j] - m));
            for (int e = 0; e < E; ++e) {
                double acc = 0;
                for (int j = 0; j < Tk; ++j) acc += p[j] * v.data[(b * Tk + j) * E + e];
                out.data[(b * Tq + i) * E + e] = acc / sum;
            }
        }
    return out;
}

}  // namespace megalide::ref
