#pragma once

// Secrets kept outside config files: password files and environment variables.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace slate {

// The file's content without one trailing newline. Errors name the file (as `what`: "password
// file", "token file"), never its content.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path,
                                           const std::string& what = "password file");

// The variable's value; NotFound when it is unset or empty.
absl::StatusOr<std::string> ReadSecretEnv(const std::string& name);

}  // namespace slate
