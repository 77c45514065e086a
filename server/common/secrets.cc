#include "server/common/secrets.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace slate {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " '", path,
                                            "': ", std::strerror(errno),
                                            "; check the path and its permissions"));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string secret = buf.str();
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' is empty; put the ",
                                                   what == "token file" ? "token" : "password",
                                                   " on its first line"));
  }
  return secret;
}

absl::StatusOr<std::string> ReadSecretEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    return absl::NotFoundError(absl::StrCat("environment variable ", name,
                                            " is not set or empty; export it with the password"));
  }
  return std::string(value);
}

}  // namespace slate
