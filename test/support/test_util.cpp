#include "test_util.h"

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>

#include "megalide/lower/lower.h"

namespace megalide::test {

namespace {

uint64_t base_seed() {
    const char *env = std::getenv("MEGALIDE_TEST_SEED");
    return env ? std::strtoull(env, nullptr, 10) : 20261121u;
}

}  // namespace

Seeded::Seeded() {
    const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name =
        info ? std::string(info->test_suite_name()) + "." + info->name() : std::string("none");
    const char *env = std::getenv("MEGALIDE_TEST_SEED");
    // An explicit seed replays exactly; otherwise each test gets a distinct fixed seed.
    seed = env ? base_seed() : base_seed() ^ (std::hash<std::string>{}(name) & 0xffffffffu);
    rng.seed(seed);
}

int Seeded::uniform_int(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
}

float Seeded::uniform(float lo, float hi) {
    return std::uniform_real_distribution<float>(lo, hi)(rng);
}

Halide::Buffer<float> random_buffer(Seeded &s, const Shape &shape, float lo, float hi) {
    Halide::Buffer<float> buffer(shape);
    std::uniform_real_distribution<float> dist(lo, hi);
    float *data = buffer.data();
    for (size_t i = 0; i < buffer.number_of_elements(); ++i) data[i] = dist(s.rng);
    return buffer;
}

HostArray random_host_array(std::mt19937 &rng, const std::vector<int64_t> &shape, float lo, float hi) {
    int64_t n = 1;
    for (int64_t e : shape) n *= e;
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v) x = dist(rng);
    return HostArray::from_floats(shape, v);
}

std::vector<HostArray> q1_inputs(const Graph &g, std::mt19937 &rng) {
    // Scales that keep each layer's output in range: weights ~ 1/sqrt(fan-in) in real terms.
    const std::map<std::string, float> scalar = {{"x_scale", 0.02f}, {"expand_scale", 6.0f / 255}, {"dw_scale", 6.0f / 255},
                                                 {"project_scale", 0.03f}, {"y_scale", 0.04f}};
    const std::map<std::string, int> zero = {{"x_zero_point", 128}, {"expand_zero_point", 0}, {"dw_zero_point", 0},
                                             {"project_zero_point", 128}, {"y_zero_point", 128}};
    const std::map<std::string, float> fan_in = {{"expand", 24}, {"dw", 9}, {"project", 144}};
    std::uniform_int_distribution<int> u8(0, 255), i8(-127, 127);
    std::vector<HostArray> inputs;
    for (const std::string &name : g.inputs) {
        const Value &v = g.value(name);
        const int64_t n = std::max<int64_t>(1, HostArray::from_doubles(DType::Float32, v.shape, std::vector<double>(1)).element_count());
        std::vector<double> values(static_cast<size_t>(n));
        const std::string layer = name.substr(0, name.find('_'));
        if (scalar.count(name)) values.assign(1, scalar.at(name));
        else if (zero.count(name)) values.assign(1, zero.at(name));
        else if (v.dtype == DType::UInt8) for (double &x : values) x = u8(rng);
        else if (v.dtype == DType::Int8) for (double &x : values) x = i8(rng);
        else if (name.size() > 8 && name.compare(name.size() - 8, 8, "_w_scale") == 0)
            for (size_t c = 0; c < values.size(); ++c) values[c] = (1.0 / std::sqrt(fan_in.at(layer)) / 127) * (0.5 + 0.5 * ((c * 7) % 11) / 10.0);
        else if (v.dtype == DType::Int32) for (double &x : values) x = std::uniform_int_distribution<int>(-2000, 2000)(rng);
        inputs.push_back(HostArray::from_doubles(v.dtype, v.shape, values));
    }
    return inputs;
}

Tensor input(const std::string &name, const Halide::Buffer<float> &buffer) {
    return tensor_from_buffer(name, buffer);
}

ref::Array to_array(const Halide::Buffer<float> &buffer) {
    ref::Array out;
    for (int d = buffer.dimensions(); d-- > 0;) out.shape.push_back(buffer.dim(d).extent());
    out.data.assign(buffer.data(), buffer.data() + buffer.number_of_elements());
    return out;
}

ref::Array to_array(const HostArray &array) {
    ref::Array out;
    out.shape.assign(array.shape.begin(), array.shape.end());
    out.data = array.to_doubles();
    return out;
}

Halide::Buffer<> to_buffer(const HostArray &array) {
    Halide::Buffer<> b(halide_type(array.dtype), std::vector<int>(array.shape.rbegin(), array.shape.rend()));
    std::memcpy(b.data(), array.bytes.data(), array.bytes.size());
    return b;
}

Halide::Buffer<float> realize(const Tensor &t) {
    Halide::Buffer<float> out(t.shape);
    Halide::Func func = t.func;  // realize() is non-const: it compiles and caches the pipeline
    func.realize(out);
    return out;
}

double reduction_tolerance(long long terms) {
    const double u = std::ldexp(1.0, -24);
    return 4.0 * static_cast<double>(std::max(terms, 1LL)) * u;
}

void expect_close(const Halide::Buffer<float> &got, const ref::Array &want, double atol,
                  double rtol, const std::string &what) {
    ASSERT_EQ(static_cast<long long>(got.number_of_elements()), want.size())
        << what << ": element count differs";
    const float *g = got.data();
    long long mismatches = 0, worst = -1;
    double worst_excess = 0;
    for (long long i = 0; i < want.size(); ++i) {
        const double w = want.data[i], v = g[i];
        const double err = std::abs(v - w), allowed = atol + rtol * std::abs(w);
        const bool bad = !(err <= allowed) || (std::isfinite(w) != std::isfinite(v));
        if (bad) {
            ++mismatches;
            const double excess = std::isfinite(err) ? err / allowed : INFINITY;
            if (worst < 0 || excess > worst_excess) worst = i, worst_excess = excess;
        }
    }
    if (mismatches == 0) return;
    std::ostringstream index;
    const std::vector<int> idx = ref::unravel(worst, want.shape);
    for (size_t d = 0; d < idx.size(); ++d) index << (d ? ", " : "") << idx[d];
    ADD_FAILURE() << what << ": " << mismatches << " of " << want.size()
                  << " elements differ; worst at NumPy index [" << index.str() << "]: got "
                  << g[worst] << ", expected " << want.data[worst] << " (atol " << atol
                  << ", rtol " << rtol << ")";
}

}  // namespace megalide::test
