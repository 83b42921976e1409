#include "megalide/npy.h"

#include "megalide/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>

// Array::bytes is little-endian and as<T>() reinterprets it in place.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "megalide/npy assumes a little-endian host"
#endif

namespace megalide::npy {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// NumPy aligns the data to 64 bytes (numpy.lib.format.ARRAY_ALIGN) and pads the header with
// room for the first extent to grow to 21 digits (GROWTH_AXIS_MAX_DIGITS).
constexpr uint64_t kAlign = 64;
constexpr size_t kGrowthDigits = 21;
constexpr int kMaxNesting = 32;
constexpr uint64_t kReadChunk = uint64_t{64} << 20;

const char *const kSupported = "supported: '<f4' (float32), '<f8' (float64), '|i1' (int8), "
                               "'|u1' (uint8), '<i4' (int32), '<i8' (int64), '|b1' (bool)";

[[noreturn]] void fail(const std::string &path, const std::string &what) {
    throw Error(path + ": " + what);
}

std::string os_reason() { return std::strerror(errno); }

/// s with non-printable bytes as \xNN, cut to max_len characters (then "...").
std::string printable(const std::string &s, size_t max_len = 80) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (out.size() >= max_len) return out + "...";
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string shape_repr(const std::vector<int64_t> &shape) {
    if (shape.size() == 1) return "(" + std::to_string(shape[0]) + ",)";
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + ")";
}

/// NumPy's descr for dtype, as np.save writes it.
const char *descr_of(DType dtype) {
    switch (dtype) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Int8: return "|i1";
    case DType::UInt8: return "|u1";
    case DType::Int32: return "<i4";
    case DType::Int64: return "<i8";
    case DType::Bool: return "|b1";
    }
    throw Error("npy: invalid DType " + std::to_string(static_cast<int>(dtype)));
}

/// Bytes of a C-order array of shape and item size, or false if an extent is negative or the
/// count exceeds what a std::vector<uint8_t> can hold. As NumPy does, extents after a zero
/// still count towards overflow.
bool byte_count(const std::vector<int64_t> &shape, size_t item, uint64_t &bytes) {
    const uint64_t limit =
        std::min<uint64_t>(std::numeric_limits<int64_t>::max(), std::vector<uint8_t>().max_size());
    uint64_t n = item;
    bool zero = false;
    for (int64_t d : shape) {
        if (d < 0) return false;
        if (d == 0) {
            zero = true;
            continue;
        }
        if (n > limit / static_cast<uint64_t>(d)) return false;
        n *= static_cast<uint64_t>(d);
    }
    bytes = zero ? 0 : n;
    return true;
}

/// The first bool byte that is neither 0 nor 1, or -1.
int64_t first_bad_bool(const std::vector<uint8_t> &data) {
    for (size_t i = 0; i < data.size(); i++) {
        if (data[i] > 1) return static_cast<int64_t>(i);
    }
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// An open file descriptor, closed on destruction.
class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return fd_; }
    /// Closes now; returns close()'s result (errno set on failure).
    int close() {
        const int r = ::close(fd_);
        fd_ = -1;
        return r;
    }

private:
    int fd_;
};

/// Sequential reads from a file, which need not be regular (then its size is unknown).
class Source {
public:
    Source(const std::string &path, int fd) : path_(path), fd_(fd) {
        struct stat st;
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            regular_ = true;
            size_ = static_cast<uint64_t>(st.st_size);
        }
    }

    /// Reads up to n bytes into out (resized to the count read), fewer only at end of file.
    /// Never allocates more than the file holds, so a corrupt length cannot exhaust memory:
    /// a regular file's size is known; other files are read in chunks.
    uint64_t read(uint64_t n, std::vector<uint8_t> &out) {
        if (regular_) n = std::min(n, size_ > offset_ ? size_ - offset_ : 0);
        const uint64_t chunk = regular_ ? n : kReadChunk;
        out.clear();
        uint64_t got = 0;
        while (got < n) {
            const uint64_t want = std::min(n - got, chunk);
            out.resize(got + want);
            const uint64_t r = read_fully(out.data() + got, want);
            got += r;
            if (r < want) break;
        }
        out.resize(got);
        offset_ += got;
        return got;
    }

private:
    uint64_t read_fully(uint8_t *dst, uint64_t n) {
        uint64_t got = 0;
        while (got < n) {
            const size_t want = static_cast<size_t>(std::min<uint64_t>(n - got, 1u << 30));
            const ssize_t r = ::read(fd_, dst + got, want);
            if (r < 0) {
                if (errno == EINTR) continue;
                fail(path_, "cannot read: " + os_reason());
            }
            if (r == 0) break;
            got += static_cast<uint64_t>(r);
        }
        return got;
    }

    const std::string &path_;
    int fd_;
    bool regular_ = false;
    uint64_t size_ = 0, offset_ = 0;
};

/// A Python literal as np.save writes headers: str, int, True/False/None, tuple, list, dict.
struct Value {
    enum class Kind { Str, Int, Bool, None, Tuple, List, Dict } kind = Kind::None;
    std::string text;                // Str: the string; Int: the literal, sign and digits
    bool boolean = false;            // Bool
    std::vector<Value> items;        // Tuple, List; Dict: the values
    std::vector<std::string> keys;   // Dict: the keys (strings only), parallel to items
};

const char *kind_name(Value::Kind k) {
    switch (k) {
    case Value::Kind::Str: return "a string";
    case Value::Kind::Int: return "an int";
    case Value::Kind::Bool: return "a bool";
    case Value::Kind::None: return "None";
    case Value::Kind::Tuple: return "a tuple";
    case Value::Kind::List: return "a list";
    case Value::Kind::Dict: return "a dict";
    }
    return "?";
}

struct ParseError {
    std::string what;
};

/// Parses the subset of Python literal syntax that .npy headers use.
class LiteralParser {
public:
    explicit LiteralParser(const std::string &text) : s_(text) {}

    /// The one literal in the text, surrounded by nothing but whitespace.
    Value parse() {
        Value v = value(0);
        skip_space();
        if (pos_ != s_.size()) error("unexpected '" + printable(s_.substr(pos_, 1)) + "'");
        return v;
    }

private:
    [[noreturn]] void error(const std::string &what) {
        throw ParseError{what + " at offset " + std::to_string(pos_)};
    }

    void skip_space() {
        while (pos_ < s_.size() && std::strchr(" \t\n\r\f\v", s_[pos_]) && s_[pos_] != '\0') {
            pos_++;
        }
    }

    /// The next non-space character, or '\0' at the end.
    char peek() {
        skip_space();
        return pos_ < s_.size() ? s_[pos_] : '\0';
    }

    void expect(char c) {
        if (peek() != c) error(std::string("expected '") + c + "'");
        pos_++;
    }

    Value value(int depth) {
        if (depth > kMaxNesting) error("literal nested too deeply");
        const char c = peek();
        if (c == '\'' || c == '"') return string();
        if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return integer();
        if (c == '(') return tuple(depth);
        if (c == '[') return sequence(depth, Value::Kind::List, ']');
        if (c == '{') return dict(depth);
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return name();
        if (pos_ >= s_.size()) error("unexpected end of header");
        error("unexpected '" + printable(std::string(1, c)) + "'");
    }

    Value string() {
        const char quote = s_[pos_++];
        Value v;
        v.kind = Value::Kind::Str;
        while (pos_ < s_.size() && s_[pos_] != quote) {
            if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) pos_++;
            v.text += s_[pos_++];
        }
        if (pos_ >= s_.size()) error("unterminated string");
        pos_++;
        return v;
    }

    Value integer() {
        Value v;
        v.kind = Value::Kind::Int;
        if (s_[pos_] == '-' || s_[pos_] == '+') v.text += s_[pos_++];
        const size_t digits = pos_;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') v.text += s_[pos_++];
        if (pos_ == digits) error("expected digits");
        // Python 2 NumPy wrote longs as 3L.
        if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) pos_++;
        return v;
    }

    Value name() {
        const size_t start = pos_;
        while (pos_ < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
            pos_++;
        }
        const std::string word = s_.substr(start, pos_ - start);
        Value v;
        if (word == "True" || word == "False") {
            v.kind = Value::Kind::Bool;
            v.boolean = word == "True";
        } else if (word == "None") {
            v.kind = Value::Kind::None;
        } else {
            pos_ = start;
            error("unexpected name '" + printable(word) + "'");
        }
        return v;
    }

    /// (), (x) (just x, as in Python), (x,), (x, y) ...
    Value tuple(int depth) {
        pos_++;
        Value v;
        v.kind = Value::Kind::Tuple;
        if (peek() == ')') {
            pos_++;
            return v;
        }
        Value first = value(depth + 1);
        if (peek() == ')') {
            pos_++;
            return first;
        }
        expect(',');
        v.items.push_back(std::move(first));
        return rest_of_sequence(depth, std::move(v), ')');
    }

    Value sequence(int depth, Value::Kind kind, char close) {
        pos_++;
        Value v;
        v.kind = kind;
        return rest_of_sequence(depth, std::move(v), close);
    }

    /// Items after an opening bracket or a comma: [x (, x)* [,]] close.
    Value rest_of_sequence(int depth, Value v, char close) {
        for (;;) {
            if (peek() == close) {
                pos_++;
                return v;
            }
            v.items.push_back(value(depth + 1));
            if (peek() == ',') {
                pos_++;
            } else {
                expect(close);
                return v;
            }
        }
    }

    Value dict(int depth) {
        pos_++;
        Value v;
        v.kind = Value::Kind::Dict;
        for (;;) {
            if (peek() == '}') {
                pos_++;
                return v;
            }
            Value key = value(depth + 1);
            if (key.kind != Value::Kind::Str) error("dict keys must be strings");
            expect(':');
            v.keys.push_back(std::move(key.text));
            v.items.push_back(value(depth + 1));
            if (peek() == ',') {
                pos_++;
            } else {
                expect('}');
                return v;
            }
        }
    }

    const std::string &s_;
    size_t pos_ = 0;
};

/// The DType for descr, or throws: unsupported dtype, or big-endian data.
DType parse_descr(const std::string &path, const std::string &descr) {
    const std::string quoted = "'" + printable(descr, 40) + "'";
    size_t i = 0;
    char order = '=';
    if (!descr.empty() && std::strchr("<>|=!", descr[0]) && descr[0] != '\0') order = descr[i++];
    const char kind = i < descr.size() ? descr[i++] : '\0';
    const std::string size = descr.substr(std::min(i, descr.size()));
    struct Known {
        char kind;
        const char *size;
        DType dtype;
    };
    static const Known known[] = {
        {'f', "4", DType::Float32}, {'f', "8", DType::Float64}, {'i', "1", DType::Int8},
        {'u', "1", DType::UInt8},   {'i', "4", DType::Int32},   {'i', "8", DType::Int64},
        {'b', "1", DType::Bool},
    };
    for (const Known &k : known) {
        if (k.kind != kind || size != k.size) continue;
        if (item_size(k.dtype) == 1 || order == '<' || order == '=') return k.dtype;
        if (order == '>' || order == '!') {
            fail(path, "big-endian data (descr " + quoted + ") is not supported; save with " +
                           "a.astype(a.dtype.newbyteorder('<'))");
        }
        break;  // '|' on a multi-byte type
    }
    std::string name;
    const bool numeric_size = !size.empty() && size.size() <= 2 &&
                              std::all_of(size.begin(), size.end(),
                                          [](char c) { return c >= '0' && c <= '9'; });
    if (numeric_size && std::strchr("fiucb", kind) && kind != '\0') {
        const int bits = std::stoi(size) * 8;
        name = kind == 'f'   ? "float"
               : kind == 'i' ? "int"
               : kind == 'u' ? "uint"
               : kind == 'c' ? "complex"
                             : "bool";
        name = " (" + name + std::to_string(bits) + ")";
    }
    fail(path, "unsupported dtype " + quoted + name + "; " + kSupported);
}

/// The header's dtype and shape, or throws.
void parse_header(const std::string &path, const std::string &header, Array &array) {
    Value dict;
    try {
        dict = LiteralParser(header).parse();
    } catch (const ParseError &e) {
        fail(path, "malformed header dict: " + e.what + " in \"" + printable(header, 200) + "\"");
    }
    auto malformed = [&](const std::string &what) {
        fail(path, "malformed header dict: " + what + " in \"" + printable(header, 200) + "\"");
    };
    if (dict.kind != Value::Kind::Dict) {
        malformed(std::string("expected a dict, found ") + kind_name(dict.kind));
    }
    const Value *descr = nullptr, *fortran = nullptr, *shape = nullptr;
    for (size_t i = 0; i < dict.keys.size(); i++) {
        const std::string &key = dict.keys[i];
        // As in Python, a repeated key keeps its last value.
        if (key == "descr") descr = &dict.items[i];
        else if (key == "fortran_order") fortran = &dict.items[i];
        else if (key == "shape") shape = &dict.items[i];
        else malformed("unexpected key '" + printable(key, 40) + "'");
    }
    if (!descr) malformed("missing key 'descr'");
    if (!fortran) malformed("missing key 'fortran_order'");
    if (!shape) malformed("missing key 'shape'");

    if (descr->kind != Value::Kind::Str) {
        fail(path, std::string("unsupported dtype: descr is ") + kind_name(descr->kind) +
                       " (structured dtypes are not supported); " + kSupported);
    }
    array.dtype = parse_descr(path, descr->text);

    if (shape->kind != Value::Kind::Tuple) {
        malformed(std::string("'shape' must be a tuple, found ") + kind_name(shape->kind));
    }
    array.shape.clear();
    for (const Value &d : shape->items) {
        if (d.kind != Value::Kind::Int) {
            malformed(std::string("'shape' holds ") + kind_name(d.kind) + ", not an int");
        }
        const bool negative = d.text[0] == '-';
        const size_t first = (negative || d.text[0] == '+') ? 1 : 0;
        const size_t nonzero = std::min(d.text.find_first_not_of('0', first), d.text.size());
        const std::string digits = d.text.substr(nonzero);
        if (negative && !digits.empty()) malformed("negative extent " + d.text + " in 'shape'");
        const std::string max = std::to_string(std::numeric_limits<int64_t>::max());
        if (digits.size() > max.size() || (digits.size() == max.size() && digits > max)) {
            malformed("extent " + printable(d.text, 40) + " in 'shape' is too large");
        }
        array.shape.push_back(digits.empty() ? 0 : std::stoll(digits));
    }

    if (fortran->kind != Value::Kind::Bool) {
        malformed(std::string("'fortran_order' must be True or False, found ") +
                  kind_name(fortran->kind));
    }
    // With at most one extent above 1, Fortran and C order lay the elements out alike.
    const auto big = std::count_if(array.shape.begin(), array.shape.end(),
                                   [](int64_t d) { return d > 1; });
    if (fortran->boolean && big > 1) {
        fail(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Magic, version, header length and the header dict, padded as np.save pads it.
std::string make_header(const std::string &path, const Array &array) {
    std::string dict = std::string("{'descr': '") + descr_of(array.dtype) +
                       "', 'fortran_order': False, 'shape': " + shape_repr(array.shape) + ", }";
    if (!array.shape.empty()) {
        const size_t digits = std::to_string(array.shape[0]).size();
        if (digits < kGrowthDigits) dict.append(kGrowthDigits - digits, ' ');
    }
    const uint64_t hlen = dict.size() + 1;  // with the '\n'
    int major = 1;
    size_t len_bytes = 2;
    uint64_t padded = hlen + (kAlign - (kMagicLen + 2 + len_bytes + hlen) % kAlign);
    if (padded > 0xffff) {
        major = 2;
        len_bytes = 4;
        padded = hlen + (kAlign - (kMagicLen + 2 + len_bytes + hlen) % kAlign);
        if (padded > 0xffffffffu) fail(path, "cannot write: the header is too large");
    }
    std::string out(kMagic, kMagicLen);
    out += static_cast<char>(major);
    out += '\0';
    for (size_t i = 0; i < len_bytes; i++) out += static_cast<char>((padded >> (8 * i)) & 0xff);
    out += dict;
    out.append(padded - hlen, ' ');
    out += '\n';
    return out;
}

}  // namespace


Array read(const std::string &path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail(path, "cannot open for reading: " + os_reason());
    Source src(path, fd.get());

    std::vector<uint8_t> bytes;
    const uint64_t got = src.read(kMagicLen + 2, bytes);
    if (got == 0) fail(path, "not an .npy file (the file is empty)");
    if (got < kMagicLen || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0) {
        const std::string start(bytes.begin(),
                                bytes.begin() + std::min<size_t>(bytes.size(), kMagicLen));
        fail(path, "not an .npy file (bad magic: expected it to start with \\x93NUMPY, found \"" +
                       printable(start) + "\")");
    }
    if (got < kMagicLen + 2) fail(path, "truncated header: the file ends inside the version");
    const int major = bytes[6], minor = bytes[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
    }

    const uint64_t len_bytes = major == 1 ? 2 : 4;
    if (src.read(len_bytes, bytes) < len_bytes) {
        fail(path, "truncated header: the file ends inside the header length");
    }
    uint64_t header_len = 0;
    for (uint64_t i = 0; i < len_bytes; i++) header_len |= uint64_t{bytes[i]} << (8 * i);
    const uint64_t header_got = src.read(header_len, bytes);
    if (header_got < header_len) {
        fail(path, "truncated header: expected " + std::to_string(header_len) +
                       " bytes of header, found " + std::to_string(header_got));
    }

    Array array;
    parse_header(path, std::string(bytes.begin(), bytes.end()), array);
    uint64_t expected = 0;
    if (!byte_count(array.shape, item_size(array.dtype), expected)) {
        fail(path, "shape " + shape_repr(array.shape) + " of " + to_string(array.dtype) +
                       " is too large");
    }
    bytes = {};
    const uint64_t found = src.read(expected, array.bytes);
    if (found < expected) {
        fail(path, "truncated data: shape " + shape_repr(array.shape) + " of " +
                       to_string(array.dtype) + " needs " + std::to_string(expected) +
                       " bytes, found " + std::to_string(found));
    }
    if (array.dtype == DType::Bool) {
        const int64_t bad = first_bad_bool(array.bytes);
        if (bad >= 0) {
            fail(path, "bool element " + std::to_string(bad) + " holds byte " +
                           std::to_string(array.bytes[bad]) + "; expected 0 or 1");
        }
    }
    return array;
}

void write(const std::string &path, const Array &array) {
    if (path.empty()) throw Error("npy::write: empty path");
    const std::string what = "cannot write shape " + shape_repr(array.shape) + " of " +
                             to_string(array.dtype);
    const size_t item = item_size(array.dtype);
    uint64_t expected = 0;
    if (!byte_count(array.shape, item, expected)) {
        fail(path, what + ": an extent is negative or the size overflows");
    }
    if (array.bytes.size() != expected) {
        fail(path, what + ": data holds " + std::to_string(array.bytes.size()) + " bytes, " +
                       "expected " + std::to_string(expected));
    }
    if (array.dtype == DType::Bool) {
        const int64_t bad = first_bad_bool(array.bytes);
        if (bad >= 0) {
            fail(path, what + ": bool element " + std::to_string(bad) + " holds byte " +
                           std::to_string(array.bytes[bad]) + "; expected 0 or 1");
        }
    }
    write_file_atomically(path, {make_header(path, array), Bytes(array.bytes.data(), array.bytes.size())});
}

}  // namespace megalide::npy
