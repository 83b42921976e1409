// The directory a command writes its results into (`megalide run --output`, `megalide compile
// -o`): checked before any work is done, created only when there is something to put in it.
#pragma once

#include <string>

namespace megalide {

/// Throws Error naming `dir` unless it is a writable directory, or does not exist and can be
/// created (its nearest existing ancestor is a writable directory). Creates nothing, so a
/// command can call it before its slow steps and still leave nothing behind when they fail.
void check_output_dir(const std::string &dir);

/// Creates `dir` and any missing parents; returns true when `dir` did not exist before (the
/// caller may remove it again on failure). Throws Error naming `dir` and the reason when it
/// cannot.
bool create_output_dir(const std::string &dir);

}  // namespace megalide
