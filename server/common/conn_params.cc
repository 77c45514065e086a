#include "server/common/conn_params.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace slate {

std::string QuoteConnInfoValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string ConnParams::ToConnInfo() const {
  std::string out = absl::StrCat("host=", QuoteConnInfoValue(host), " port=", port,
                                 " dbname=", QuoteConnInfoValue(database));
  if (!user.empty()) absl::StrAppend(&out, " user=", QuoteConnInfoValue(user));
  if (!password.empty()) absl::StrAppend(&out, " password=", QuoteConnInfoValue(password));
  if (!sslmode.empty()) absl::StrAppend(&out, " sslmode=", QuoteConnInfoValue(sslmode));
  if (connect_timeout_seconds > 0) {
    // libpq treats 1 as 2 seconds; say what it does.
    absl::StrAppend(&out,
                    " connect_timeout=", connect_timeout_seconds < 2 ? 2 : connect_timeout_seconds);
  }
  if (!application_name.empty()) {
    absl::StrAppend(&out, " application_name=", QuoteConnInfoValue(application_name));
  }
  return out;
}

std::string ConnParams::Describe() const {
  return absl::StrCat(user.empty() ? "" : absl::StrCat(user, "@"), host, ":", port, "/", database);
}

bool ConnParams::SameDatabaseAs(const ConnParams& other) const {
  return port == other.port && absl::AsciiStrToLower(host) == absl::AsciiStrToLower(other.host) &&
         absl::AsciiStrToLower(database) == absl::AsciiStrToLower(other.database);
}

std::string ConnParams::MachineKey() const {
  const std::string h = absl::AsciiStrToLower(host);
  if (h.empty() || h[0] == '/' || h == "localhost" || h == "::1" || h == "[::1]" ||
      absl::StartsWith(h, "127.")) {
    return "local";
  }
  return h;
}

}  // namespace slate
