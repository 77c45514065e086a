#pragma once

// A small command-line parser shared by slate-replicator and each slatectl subcommand (whose
// flags differ, so abseil's process-global flags do not fit). Accepts "--name value",
// "--name=value", "-n value" and boolean "--name"; "--" ends the flags. Unknown flags, missing
// values and stray arguments are InvalidArgument errors that name the argument.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slate {

struct FlagSpec {
  std::string name;     // without dashes: "config-filename"
  char short_name = 0;  // 'c', or 0
  bool takes_value = true;
  std::string value_name;  // "FILE", for usage text
  std::string help;
};

class ParsedArgs {
 public:
  bool Has(absl::string_view name) const { return values_.count(std::string(name)) > 0; }
  std::optional<std::string> Get(absl::string_view name) const;
  std::string GetOr(absl::string_view name, absl::string_view fallback) const;
  // Every value given to a repeatable flag, in order (Get() returns the last).
  std::vector<std::string> GetAll(absl::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>&,
                                              const std::vector<std::string>&, size_t);
  std::map<std::string, std::string, std::less<>> values_;
  std::map<std::string, std::vector<std::string>, std::less<>> all_;
  std::vector<std::string> positional_;
};

// Parses args[max_positional..]: at most `max_positional` positional arguments are accepted.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& specs,
                                     const std::vector<std::string>& args,
                                     size_t max_positional = 0);

// One line per flag: "  -c, --config-filename FILE   help".
std::string FlagsUsage(const std::vector<FlagSpec>& specs);

// Parses a whole number in [min, max] for flag `name`.
absl::StatusOr<long long> ParseIntFlag(absl::string_view name, absl::string_view value,
                                       long long min, long long max);

}  // namespace slate
