// Sorting the exception in flight into a user error or an internal one (include/megalide/error.h).
#include "megalide/error.h"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <new>
#include <typeinfo>

#include "Halide.h"

namespace megalide {

void test_fault_point(const std::string &doing) {
    const char *fault = std::getenv("MEGALIDE_TEST_INTERNAL_ERROR");
    if (fault && *fault && doing.find(fault) != std::string::npos) {
        throw std::out_of_range("fault injected by MEGALIDE_TEST_INTERNAL_ERROR=" + std::string(fault));
    }
}

Failure classify_current_exception(const std::string &doing) {
    const auto internal = [&](const std::string &what) {
        return Failure{true, "internal error while " + doing + ": " + what +
                                 "\n(this is a bug in megalide, not in your input; please report it with the "
                                 "command or call that caused it)"};
    };
    try {
        throw;
    } catch (const Error &e) {
        return Failure{false, e.what()};
    } catch (const Halide::CompileError &e) {
        return Failure{false, std::string("Halide error: ") + e.what()};
    } catch (const Halide::RuntimeError &e) {
        return Failure{false, std::string("Halide error: ") + e.what()};
    } catch (const InternalError &e) {
        return internal(e.what());
    } catch (const Halide::InternalError &e) {
        return internal(std::string("Halide internal error: ") + e.what());
    } catch (const Halide::Error &e) {
        return internal(std::string("Halide error: ") + e.what());
    } catch (const std::bad_alloc &) {
        return internal("out of memory (std::bad_alloc)");
    } catch (const std::exception &e) {
        int status = 0;
        char *name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
        const std::string type = status == 0 && name ? name : typeid(e).name();
        std::free(name);
        return internal(std::string(e.what()) + " (" + type + ")");
    } catch (...) {
        return internal("an exception of unknown type");
    }
}

}  // namespace megalide
