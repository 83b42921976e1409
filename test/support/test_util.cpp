#include "test_util.h"

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <functional>
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
