// megalide's two kinds of error, as Halide has user_assert and internal_assert.
//
//   megalide::Error          the user's input is wrong (a model, a shape, a file, an option):
//                            the message names the thing to fix; the CLI exits 1.
//   megalide::InternalError  one of megalide's own invariants broke (a bug): entry points
//                            report "internal error" with what was being done; the CLI exits 3.
//
// Entry points (the CLI, the Python module, the generators) catch everything and sort it with
// classify_current_exception(); no exception escapes main.
#pragma once

#include <stdexcept>
#include <string>

namespace megalide {

/// Thrown when a model, a layer or a file is inconsistent. The message names the thing that
/// is wrong (the layer and its operand shapes, the file, the option) so that a user can fix
/// their input without reading megalide's source.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown when megalide's own state is inconsistent: a bug, never the user's input.
class InternalError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// Checks an invariant of megalide's own code; throws InternalError naming the place.
#define MEGALIDE_INTERNAL_CHECK(cond, what)                                                            \
    do {                                                                                               \
        if (!(cond))                                                                                   \
            throw ::megalide::InternalError(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                            ": " + (what) + " (" #cond ")");                           \
    } while (0)

/// A fault point for the tests of the entry points' internal-error path: throws
/// std::out_of_range when the environment variable MEGALIDE_TEST_INTERNAL_ERROR is set and
/// occurs in `doing` (the step the entry point is starting). Costs one getenv otherwise.
void test_fault_point(const std::string &doing);

/// How an entry point reports a failure.
struct Failure {
    bool internal;        // a bug in megalide (exit 3) rather than a bad input (exit 1)
    std::string message;  // one line or more, without the program's name
    int exit_code() const { return internal ? 3 : 1; }
};

/// Call inside a catch block: sorts the exception in flight. megalide::Error and Halide's
/// CompileError / RuntimeError (a Halide user error, e.g. from a hand-edited schedule) are the
/// user's; megalide::InternalError, Halide::InternalError, std::bad_alloc, any other exception
/// are internal, reported as "internal error while <doing>: ...".
Failure classify_current_exception(const std::string &doing);

}  // namespace megalide
