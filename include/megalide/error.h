// megalide::Error: the one exception type megalide throws for bad input.
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

}  // namespace megalide
