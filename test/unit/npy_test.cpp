// npy::read and npy::write against NumPy itself: files np.save writes are read back, files
// npy::write writes are checked by np.load in a python3 that exits non-zero on a mismatch.
#include "megalide/npy.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <thread>

namespace megalide::test {
namespace {

namespace fs = std::filesystem;
using npy::Array;
using megalide::DType;

std::string shell_quote(const std::string &s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void spill(const std::string &path, const std::string &bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// An .npy file with an arbitrary header dict, padded to align bytes as NumPy pads it.
std::string npy_bytes(const std::string &dict, const std::string &data, int major = 1,
                      size_t align = 64) {
    const size_t len_bytes = major == 1 ? 2 : 4;
    std::string header = dict;
    while ((6 + 2 + len_bytes + header.size() + 1) % align) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    for (size_t i = 0; i < len_bytes; i++) out += static_cast<char>(header.size() >> (8 * i));
    return out + header + data;
}

/// C++ values as a Python list literal, exact enough to round-trip.
template <typename T>
std::string py_list(const std::vector<T> &values) {
    std::ostringstream s;
    s.precision(std::numeric_limits<T>::max_digits10);
    s << "[";
    for (size_t i = 0; i < values.size(); i++) {
        if (i) s << ", ";
        if constexpr (std::is_same_v<T, bool>) s << (values[i] ? "True" : "False");
        else if constexpr (std::is_integral_v<T>) s << static_cast<int64_t>(values[i]);
        else s << values[i];
    }
    return s.str() + "]";
}

template <typename T>
Array make_array(std::vector<int64_t> shape, const std::vector<T> &values) {
    Array a;
    a.dtype = megalide::dtype_of<T>();
    a.shape = std::move(shape);
    a.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
    return a;
}

template <typename T>
void expect_values(const Array &a, const std::vector<T> &want) {
    ASSERT_EQ(a.dtype, megalide::dtype_of<T>());
    ASSERT_EQ(a.element_count(), static_cast<int64_t>(want.size()));
    ASSERT_EQ(a.bytes.size(), want.size() * sizeof(T));
    const T *got = a.as<T>();
    for (size_t i = 0; i < want.size(); i++) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

class NpyTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "megalide_npy_XXXXXX").string();
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        dir_ = tmpl;
        static const bool have_numpy = python("pass") == 0;
        ASSERT_TRUE(have_numpy) << "these tests need the project environment's python with numpy (scripts/bootstrap.sh)";
    }
    void TearDown() override {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }

    std::string path(const std::string &name) const { return dir_ + "/" + name; }

    /// Runs code in the project environment's python with numpy as np, sys and D (the temp dir) defined; its exit status.
    int python(const std::string &code) const {
        const std::string script = "import numpy as np, sys\nD = '" + dir_ + "'\n" + code;
        const std::string cmd = std::string(MEGALIDE_PYTHON) + " -c " + shell_quote(script);
        const int status = std::system(cmd.c_str());
        return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    /// Runs python code that must exit 0.
    void numpy(const std::string &code) const {
        ASSERT_EQ(python(code), 0) << "python3 failed or found a mismatch:\n" << code;
    }

    /// np.save(name, np.array(values, dtype).reshape(2, 3)), then npy::read checks it.
    template <typename T>
    void check_read(const std::string &np_dtype, const std::vector<T> &values) {
        SCOPED_TRACE(np_dtype);
        const std::string file = path(np_dtype + ".npy");
        numpy("np.save(D + '/" + np_dtype + ".npy', np.array(" + py_list(values) + ", dtype=np." +
              np_dtype + ").reshape(2, 3))");
        const Array a = npy::read(file);
        EXPECT_EQ(megalide::to_string(a.dtype), np_dtype);
        EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
        expect_values(a, values);
    }

    /// npy::write of values as shape (2, 3), then np.load checks dtype, shape and values.
    template <typename T>
    void check_write(const std::string &np_dtype, const std::vector<T> &values) {
        SCOPED_TRACE(np_dtype);
        const std::string name = "w_" + np_dtype + ".npy";
        npy::write(path(name), make_array({2, 3}, values));
        numpy("a = np.load(D + '/" + name + "')\n"
              "want = np.array(" + py_list(values) + ", dtype=np." + np_dtype + ").reshape(2, 3)\n"
              "sys.exit(0 if a.dtype == np." + np_dtype + " and a.shape == (2, 3) and "
              "a.flags.c_contiguous and (a == want).all() else 1)");
    }

    /// Expects read(file) to throw an Error whose message starts with the path and holds
    /// fragment.
    void expect_read_error(const std::string &file, const std::string &fragment) {
        try {
            npy::read(file);
            ADD_FAILURE() << "read(" << file << ") did not throw; expected \"" << fragment << "\"";
        } catch (const Error &e) {
            const std::string msg = e.what();
            EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << msg;
            EXPECT_NE(msg.find(fragment), std::string::npos) << "missing \"" << fragment
                                                             << "\" in: " << msg;
        }
    }

    void expect_write_error(const std::string &file, const Array &a, const std::string &fragment) {
        try {
            npy::write(file, a);
            ADD_FAILURE() << "write(" << file << ") did not throw; expected \"" << fragment
                          << "\"";
        } catch (const Error &e) {
            const std::string msg = e.what();
            EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << msg;
            EXPECT_NE(msg.find(fragment), std::string::npos) << "missing \"" << fragment
                                                             << "\" in: " << msg;
        }
    }

    /// Names of the entries in the temp dir.
    std::vector<std::string> listing() const {
        std::vector<std::string> names;
        for (const auto &e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
        std::sort(names.begin(), names.end());
        return names;
    }

    std::string dir_;
};

const std::vector<float> kF32 = {-1.5f, 0.0f, 0.25f, 1e-45f, 3.0e38f, 1.0f / 3.0f};
const std::vector<double> kF64 = {-1.5, 0.0, 1e-310, 1e300, 1.0 / 3.0, -2.0 / 7.0};
const std::vector<int8_t> kI8 = {-128, -1, 0, 1, 127, 42};
const std::vector<uint8_t> kU8 = {0, 1, 127, 128, 255, 42};
const std::vector<int32_t> kI32 = {std::numeric_limits<int32_t>::min(), -1, 0, 1,
                                   std::numeric_limits<int32_t>::max(), 123456789};
const std::vector<int64_t> kI64 = {std::numeric_limits<int64_t>::min(), -1, 0, 1,
                                   std::numeric_limits<int64_t>::max(), int64_t{1} << 40};
const std::vector<bool> kBool = {true, false, true, true, false, false};

// std::vector<bool> has no data(); the bool arrays go through bytes.
Array bool_array(std::vector<int64_t> shape, const std::vector<bool> &values) {
    Array a;
    a.dtype = DType::Bool;
    a.shape = std::move(shape);
    for (bool b : values) a.bytes.push_back(b ? 1 : 0);
    return a;
}

TEST(NpyDType, NamesAndSizes) {
    const std::pair<DType, std::pair<const char *, size_t>> all[] = {
        {DType::Float32, {"float32", 4}}, {DType::Float64, {"float64", 8}},
        {DType::Int8, {"int8", 1}},       {DType::UInt8, {"uint8", 1}},
        {DType::Int32, {"int32", 4}},     {DType::Int64, {"int64", 8}},
        {DType::Bool, {"bool", 1}},
    };
    for (const auto &[dtype, expected] : all) {
        EXPECT_EQ(megalide::to_string(dtype), expected.first);
        EXPECT_EQ(megalide::item_size(dtype), expected.second);
    }
}

TEST(NpyDType, AsChecksTheElementType) {
    Array a = make_array<int32_t>({2}, {7, -7});
    EXPECT_EQ(a.as<int32_t>()[1], -7);
    try {
        a.as<float>();
        ADD_FAILURE() << "as<float>() on int32 did not throw";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("holds int32 elements, not float32"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(NpyTest, ReadsEveryDtypeFromNumpy) {
    check_read("float32", kF32);
    check_read("float64", kF64);
    check_read("int8", kI8);
    check_read("uint8", kU8);
    check_read("int32", kI32);
    check_read("int64", kI64);
    numpy("np.save(D + '/bool.npy', np.array(" + py_list(kBool) + ").reshape(2, 3))");
    const Array a = npy::read(path("bool.npy"));
    EXPECT_EQ(a.dtype, DType::Bool);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.bytes, bool_array({2, 3}, kBool).bytes);
}

TEST_F(NpyTest, WritesEveryDtypeForNumpy) {
    check_write("float32", kF32);
    check_write("float64", kF64);
    check_write("int8", kI8);
    check_write("uint8", kU8);
    check_write("int32", kI32);
    check_write("int64", kI64);
    npy::write(path("w_bool.npy"), bool_array({2, 3}, kBool));
    numpy("a = np.load(D + '/w_bool.npy')\n"
          "sys.exit(0 if a.dtype == np.bool_ and a.shape == (2, 3) and "
          "(a.ravel() == np.array(" + py_list(kBool) + ")).all() else 1)");
}

// Byte for byte what np.save writes, for every dtype and shapes that exercise the padding.
TEST_F(NpyTest, WritesTheSameBytesAsNumpy) {
    const std::vector<std::vector<int64_t>> shapes = {
        {}, {0}, {7}, {2, 3}, {2, 3, 4, 5}, {0, 123456789012345678}, std::vector<int64_t>(32, 1)};
    const std::pair<DType, const char *> dtypes[] = {
        {DType::Float32, "float32"}, {DType::Float64, "float64"}, {DType::Int8, "int8"},
        {DType::UInt8, "uint8"},     {DType::Int32, "int32"},     {DType::Int64, "int64"},
        {DType::Bool, "bool"}};
    struct Case {
        Array array;
        std::string what, ours, theirs;
    };
    std::vector<Case> cases;
    std::string save_all;  // one python3 run saves NumPy's files for every case
    for (const auto &shape : shapes) {
        for (const auto &[dtype, name] : dtypes) {
            Case c;
            c.array.dtype = dtype;
            c.array.shape = shape;
            c.array.bytes.assign(c.array.element_count() * megalide::item_size(dtype), 0);
            std::string py_shape = "(";
            for (int64_t d : shape) py_shape += std::to_string(d) + ",";
            py_shape += ")";
            c.what = std::string(name) + " shape " + py_shape;
            c.ours = path("ours" + std::to_string(cases.size()) + ".npy");
            c.theirs = path("theirs" + std::to_string(cases.size()) + ".npy");
            save_all += "np.save('" + c.theirs + "', np.zeros(" + py_shape + ", dtype=np." + name +
                        "))\n";
            npy::write(c.ours, c.array);
            cases.push_back(std::move(c));
        }
    }
    numpy(save_all);
    for (const Case &c : cases) {
        const std::string got = slurp(c.ours), want = slurp(c.theirs);
        ASSERT_FALSE(want.empty()) << c.what;
        EXPECT_EQ(got, want) << c.what;
        // The data starts at a multiple of 64, right after the '\n'.
        const size_t data_start = got.size() - c.array.bytes.size();
        EXPECT_EQ(data_start % 64, 0u) << c.what;
        EXPECT_EQ(got[data_start - 1], '\n') << c.what;
    }
}

TEST_F(NpyTest, Scalar) {
    numpy("np.save(D + '/s.npy', np.float64(2.5))");
    Array a = npy::read(path("s.npy"));
    EXPECT_TRUE(a.shape.empty());
    EXPECT_EQ(a.element_count(), 1);
    expect_values<double>(a, {2.5});

    npy::write(path("ws.npy"), make_array<int32_t>({}, {-7}));
    numpy("a = np.load(D + '/ws.npy')\n"
          "sys.exit(0 if a.dtype == np.int32 and a.shape == () and a == -7 else 1)");
}

TEST_F(NpyTest, ZeroSize) {
    numpy("np.save(D + '/z.npy', np.zeros((0, 3), dtype=np.float32))");
    const Array a = npy::read(path("z.npy"));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{0, 3}));
    EXPECT_EQ(a.element_count(), 0);
    EXPECT_TRUE(a.bytes.empty());

    npy::write(path("wz.npy"), make_array<int64_t>({3, 0, 2}, {}));
    numpy("a = np.load(D + '/wz.npy')\n"
          "sys.exit(0 if a.dtype == np.int64 and a.shape == (3, 0, 2) else 1)");
}

// C order, outermost first: element (i, j, k, l) of a (2, 3, 4, 5) array is at i*60+j*20+k*5+l.
TEST_F(NpyTest, FourD) {
    numpy("a = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)\n"
          "a[1, 2, 3, 4] = -1\n"
          "np.save(D + '/4d.npy', a)");
    const Array a = npy::read(path("4d.npy"));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3, 4, 5}));
    std::vector<float> want(120);
    for (int i = 0; i < 120; i++) want[i] = static_cast<float>(i);
    want[1 * 60 + 2 * 20 + 3 * 5 + 4] = -1;
    expect_values(a, want);

    std::vector<float> values(120);
    for (int i = 0; i < 120; i++) values[i] = 0.5f * static_cast<float>(i);
    npy::write(path("w4d.npy"), make_array({2, 3, 4, 5}, values));
    numpy("a = np.load(D + '/w4d.npy')\n"
          "want = 0.5 * np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)\n"
          "sys.exit(0 if a.shape == (2, 3, 4, 5) and a[1, 2, 3, 4] == 59.5 and "
          "(a == want).all() else 1)");
}

TEST_F(NpyTest, ManyDimensions) {
    // 32 dimensions: a header of about 200 bytes; NumPy 1.x allows no more.
    numpy("np.save(D + '/many.npy', np.arange(6, dtype=np.int8).reshape((1,) * 30 + (2, 3)))");
    const Array a = npy::read(path("many.npy"));
    std::vector<int64_t> shape(30, 1);
    shape.push_back(2);
    shape.push_back(3);
    EXPECT_EQ(a.shape, shape);
    expect_values<int8_t>(a, {0, 1, 2, 3, 4, 5});

    npy::write(path("wmany.npy"), make_array<int8_t>(shape, {5, 4, 3, 2, 1, 0}));
    numpy("a = np.load(D + '/wmany.npy')\n"
          "sys.exit(0 if a.shape == (1,) * 30 + (2, 3) and "
          "(a.ravel() == np.arange(5, -1, -1)).all() else 1)");
}

// A header over 65535 bytes needs format version 2.0, as np.save would choose.
TEST_F(NpyTest, HugeHeaderUsesVersion2) {
    const std::vector<int64_t> shape(30000, 1);
    npy::write(path("huge.npy"), make_array<float>(shape, {4.5f}));
    const std::string bytes = slurp(path("huge.npy"));
    ASSERT_GT(bytes.size(), 8u);
    EXPECT_EQ(bytes[6], 2);
    EXPECT_EQ(bytes[7], 0);
    EXPECT_EQ((bytes.size() - 4) % 64, 0u);
    const Array a = npy::read(path("huge.npy"));
    EXPECT_EQ(a.shape, shape);
    expect_values<float>(a, {4.5f});
    // NumPy cannot make a 30000-D array, but it can parse the header.
    numpy("f = open(D + '/huge.npy', 'rb')\n"
          "v = np.lib.format.read_magic(f)\n"
          "shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10**6)\n"
          "sys.exit(0 if v == (2, 0) and shape == (1,) * 30000 and not fortran and "
          "dtype == np.float32 and f.tell() % 64 == 0 else 1)");
}

TEST_F(NpyTest, ReadsFormatVersions2And3) {
    for (const char *version : {"(1, 0)", "(2, 0)", "(3, 0)"}) {
        SCOPED_TRACE(version);
        numpy(std::string("with open(D + '/v.npy', 'wb') as f:\n"
                          "    np.lib.format.write_array(f, np.array([[1.5, -2], [3, 4]]), "
                          "version=") +
              version + ")");
        const Array a = npy::read(path("v.npy"));
        EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
        expect_values<double>(a, {1.5, -2, 3, 4});
    }
}

// Spellings NumPy itself never writes but accepts, and files from older or other writers.
TEST_F(NpyTest, ReadsOtherSpellings) {
    struct Case {
        const char *dict;
        std::string data;
        DType dtype;
        std::vector<int64_t> shape;
    };
    const std::string f1 = std::string("\x00\x00\x80\x3f", 4);  // 1.0f
    const Case cases[] = {
        {"{'descr': '<i1', 'fortran_order': False, 'shape': (2,), }", "\x05\xfb", DType::Int8,
         {2}},
        {"{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }", "\xff", DType::UInt8, {1}},
        {"{'descr': '<b1', 'fortran_order': False, 'shape': (), }", "\x01", DType::Bool, {}},
        {"{'descr': '>b1', 'fortran_order': False, 'shape': (), }", "\x01", DType::Bool, {}},
        {"{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", f1, DType::Float32, {1}},
        {"{\"shape\": (1L,), \"fortran_order\": False, \"descr\": \"<f4\"}", f1, DType::Float32,
         {1}},
        // Fortran order is harmless when at most one extent exceeds 1.
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", f1, DType::Float32,
         {1, 1}},
        // Trailing bytes after the data are ignored, as np.load ignores them.
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", "\x07garbage",
         DType::UInt8, {1}},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.dict);
        spill(path("o.npy"), npy_bytes(c.dict, c.data));
        const Array a = npy::read(path("o.npy"));
        EXPECT_EQ(a.dtype, c.dtype);
        EXPECT_EQ(a.shape, c.shape);
        EXPECT_EQ(a.bytes.size(), a.element_count() * megalide::item_size(a.dtype));
        EXPECT_EQ(std::string(a.bytes.begin(), a.bytes.end()), c.data.substr(0, a.bytes.size()));
    }
    // An unaligned header (NumPy < 1.9 aligned to 16) is fine too.
    const std::string unaligned =
        npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1,)}",
                  std::string("\x2a\x00\x00\x00", 4), 1, 16);
    ASSERT_NE(unaligned.size() % 64, 4u);
    spill(path("u.npy"), unaligned);
    expect_values<int32_t>(npy::read(path("u.npy")), {42});
}

// A pipe has no size: the reader must not trust the header to size its buffers.
TEST_F(NpyTest, ReadsFromAPipe) {
    numpy("np.save(D + '/p.npy', np.arange(1000000, dtype=np.float32))");
    const std::string bytes = slurp(path("p.npy"));
    ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0) << std::strerror(errno);
    std::signal(SIGPIPE, SIG_IGN);
    std::thread writer([&] {
        const int fd = ::open(path("fifo").c_str(), O_WRONLY);
        if (fd < 0) return;
        for (size_t at = 0; at < bytes.size();) {
            const ssize_t r = ::write(fd, bytes.data() + at, bytes.size() - at);
            if (r <= 0) break;
            at += static_cast<size_t>(r);
        }
        ::close(fd);
    });
    Array a;
    EXPECT_NO_THROW(a = npy::read(path("fifo")));
    writer.join();
    ASSERT_EQ(a.shape, (std::vector<int64_t>{1000000}));
    const float *f = a.as<float>();
    for (int i = 0; i < 1000000; i += 9999) EXPECT_EQ(f[i], static_cast<float>(i));
}

TEST_F(NpyTest, OverwritesAnExistingFile) {
    npy::write(path("x.npy"), make_array<int32_t>({3}, {1, 2, 3}));
    npy::write(path("x.npy"), make_array<double>({1}, {9.0}));
    expect_values<double>(npy::read(path("x.npy")), {9.0});
    EXPECT_EQ(listing(), std::vector<std::string>{"x.npy"});
}

// ---------------------------------------------------------------------------------------------
// Errors.

TEST_F(NpyTest, MissingFile) {
    expect_read_error(path("nope.npy"), "cannot open for reading: No such file or directory");
}

TEST_F(NpyTest, Directory) { expect_read_error(dir_, "cannot read: Is a directory"); }

TEST_F(NpyTest, BadMagic) {
    spill(path("text.npy"), "hello, this is not numpy\n");
    expect_read_error(path("text.npy"), "not an .npy file (bad magic");
    spill(path("empty.npy"), "");
    expect_read_error(path("empty.npy"), "not an .npy file (the file is empty)");
    spill(path("short.npy"), "\x93NU");
    expect_read_error(path("short.npy"), "not an .npy file");
    numpy("np.savez(D + '/z.npz', a=np.zeros(3))");
    expect_read_error(path("z.npz"), "not an .npy file");
}

TEST_F(NpyTest, UnsupportedVersion) {
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }";
    std::string bytes = npy_bytes(dict, std::string(4, '\0'));
    bytes[6] = 4;
    spill(path("v4.npy"), bytes);
    expect_read_error(path("v4.npy"), "unsupported .npy format version 4.0");
    bytes[6] = 1;
    bytes[7] = 1;
    spill(path("v11.npy"), bytes);
    expect_read_error(path("v11.npy"), "unsupported .npy format version 1.1");
}

TEST_F(NpyTest, MalformedHeader) {
    const char *dicts[] = {
        "",
        "[1, 2]",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (2,)}",
        "{'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': 2}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
        "{'descr': '<f4', 'fortran_order': Flase, 'shape': (2,)}",
        "{1: '<f4', 'fortran_order': False, 'shape': (2,)}",
        "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
    };
    for (const char *dict : dicts) {
        SCOPED_TRACE(dict);
        spill(path("m.npy"), npy_bytes(dict, std::string(64, '\0')));
        expect_read_error(path("m.npy"), "malformed header dict");
    }
    spill(path("neg.npy"), npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -2)}",
                                     ""));
    expect_read_error(path("neg.npy"), "negative extent -2");
}

TEST_F(NpyTest, ShapeTooLarge) {
    spill(path("big.npy"),
          npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
                    ""));
    expect_read_error(path("big.npy"), "is too large");
    // Extents after a zero still count, as in NumPy.
    spill(path("big0.npy"),
          npy_bytes("{'descr': '<f8', 'fortran_order': False, "
                    "'shape': (0, 4294967296, 4294967296)}",
                    ""));
    expect_read_error(path("big0.npy"), "is too large");
}

TEST_F(NpyTest, TruncatedData) {
    numpy("np.save(D + '/t.npy', np.arange(10, dtype=np.float64))");
    fs::resize_file(path("t.npy"), fs::file_size(path("t.npy")) - 5);
    expect_read_error(path("t.npy"), "truncated data: shape (10,) of float64 needs 80 bytes, "
                                     "found 75");
    // A huge shape in a small file is a truncation, not an allocation.
    spill(path("t2.npy"),
          npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,)}", "ab"));
    expect_read_error(path("t2.npy"), "needs 4000000000000 bytes, found 2");
}

TEST_F(NpyTest, TruncatedHeader) {
    numpy("np.save(D + '/h.npy', np.zeros(3))");
    fs::resize_file(path("h.npy"), 20);
    expect_read_error(path("h.npy"), "truncated header: expected 118 bytes of header, found 10");
    fs::resize_file(path("h.npy"), 9);
    expect_read_error(path("h.npy"), "truncated header");
    // A v2 header length of 4 GiB in a tiny file.
    spill(path("h2.npy"), std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{", 13));
    expect_read_error(path("h2.npy"), "expected 4294967295 bytes of header, found 1");
}

TEST_F(NpyTest, FortranOrder) {
    numpy("np.save(D + '/f.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))");
    expect_read_error(path("f.npy"),
                      "Fortran-order arrays are not supported; save with np.ascontiguousarray");
}

TEST_F(NpyTest, BigEndian) {
    numpy("np.save(D + '/be.npy', np.arange(4, dtype='>f4'))");
    expect_read_error(path("be.npy"), "big-endian data (descr '>f4') is not supported");
    numpy("np.save(D + '/be8.npy', np.arange(4, dtype='>i8'))");
    expect_read_error(path("be8.npy"), "big-endian data (descr '>i8')");
}

TEST_F(NpyTest, UnsupportedDtype) {
    numpy("np.save(D + '/h.npy', np.zeros(3, dtype=np.float16))");
    expect_read_error(path("h.npy"), "unsupported dtype '<f2' (float16)");
    expect_read_error(path("h.npy"), "supported: '<f4' (float32), '<f8' (float64), '|i1' (int8)");
    numpy("np.save(D + '/u.npy', np.zeros(3, dtype=np.uint32))");
    expect_read_error(path("u.npy"), "unsupported dtype '<u4' (uint32)");
    numpy("np.save(D + '/s.npy', np.array(['ab', 'c']))");
    expect_read_error(path("s.npy"), "unsupported dtype '<U2'");
    numpy("np.save(D + '/r.npy', np.zeros(2, dtype=[('x', '<f4'), ('y', '<i4')]))");
    expect_read_error(path("r.npy"), "unsupported dtype: descr is a list");
}

TEST_F(NpyTest, BoolBytesMustBe0Or1) {
    spill(path("b.npy"),
          npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                    std::string("\x01\x00\x02", 3)));
    expect_read_error(path("b.npy"), "bool element 2 holds byte 2; expected 0 or 1");
    Array a = bool_array({2}, {true, false});
    a.bytes[0] = 9;
    expect_write_error(path("wb.npy"), a, "bool element 0 holds byte 9");
    EXPECT_FALSE(fs::exists(path("wb.npy")));
}

TEST_F(NpyTest, UnwritablePath) {
    const Array a = make_array<float>({2}, {1, 2});
    expect_write_error(path("no/such/dir/x.npy"), a, "No such file or directory");
    expect_write_error("/proc/nonexistent/x.npy", a, "cannot create temporary file");
    EXPECT_FALSE(fs::exists(path("no")));
    EXPECT_TRUE(listing().empty());
}

// Any failure leaves no file, and no temporary file, behind; an existing file is untouched.
TEST_F(NpyTest, FailedWriteLeavesNoFile) {
    const Array bad = make_array<float>({2, 3}, {1, 2, 3});
    expect_write_error(path("bad.npy"), bad, "data holds 12 bytes, expected 24");
    EXPECT_FALSE(fs::exists(path("bad.npy")));

    Array negative = make_array<float>({2}, {1, 2});
    negative.shape = {-1, -2};
    expect_write_error(path("neg.npy"), negative, "an extent is negative");
    Array overflow;
    overflow.dtype = DType::Float64;
    overflow.shape = {int64_t{1} << 40, int64_t{1} << 40};
    expect_write_error(path("over.npy"), overflow, "the size overflows");
    EXPECT_TRUE(listing().empty());

    npy::write(path("keep.npy"), make_array<int32_t>({1}, {7}));
    const std::string before = slurp(path("keep.npy"));
    expect_write_error(path("keep.npy"), bad, "data holds");
    EXPECT_EQ(slurp(path("keep.npy")), before);

    // The rename fails when the target is a directory: the temporary file must go.
    fs::create_directory(path("adir"));
    expect_write_error(path("adir"), make_array<float>({1}, {1}), "Is a directory");
    EXPECT_EQ(listing(), (std::vector<std::string>{"adir", "keep.npy"}));
}

// Mangled files either load or throw Error; never a crash, a hang or a huge allocation.
TEST_F(NpyTest, CorruptFilesThrowError) {
    numpy("np.save(D + '/good.npy', np.arange(12, dtype=np.int32).reshape(3, 4))");
    const std::string good = slurp(path("good.npy"));
    std::mt19937 rng(1234);
    int errors = 0, loads = 0;
    for (int i = 0; i < 3000; i++) {
        std::string bytes = good;
        const int mutations = 1 + static_cast<int>(rng() % 4);
        for (int m = 0; m < mutations; m++) {
            const size_t at = rng() % bytes.size();
            switch (rng() % 4) {
            case 0: bytes[at] = static_cast<char>(rng()); break;
            case 1: bytes.resize(at); break;
            case 2: bytes[at] = "(),:'{}-0123456789 \nTrueFals"[rng() % 29]; break;
            default: bytes.insert(at, 1, static_cast<char>(rng())); break;
            }
            if (bytes.empty()) break;
        }
        spill(path("c.npy"), bytes);
        try {
            const Array a = npy::read(path("c.npy"));
            EXPECT_EQ(a.bytes.size(), static_cast<size_t>(a.element_count()) *
                                         megalide::item_size(a.dtype));
            loads++;
        } catch (const Error &) {
            errors++;
        }
    }
    EXPECT_GT(errors, 0);
    EXPECT_GT(loads, 0);
}

}  // namespace
}  // namespace megalide::test
