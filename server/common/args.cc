#include "server/common/args.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace slate {

std::vector<std::string> ParsedArgs::GetAll(absl::string_view name) const {
  auto it = all_.find(name);
  return it == all_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> ParsedArgs::Get(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string ParsedArgs::GetOr(absl::string_view name, absl::string_view fallback) const {
  auto v = Get(name);
  return v ? *v : std::string(fallback);
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& specs,
                                     const std::vector<std::string>& args, size_t max_positional) {
  ParsedArgs out;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      out.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (arg[1] == '-') {
      std::string name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      auto it = std::find_if(specs.begin(), specs.end(),
                             [&](const FlagSpec& s) { return s.name == name; });
      if (it != specs.end()) spec = &*it;
    } else if (arg.size() == 2) {
      auto it = std::find_if(specs.begin(), specs.end(),
                             [&](const FlagSpec& s) { return s.short_name == arg[1]; });
      if (it != specs.end()) spec = &*it;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", arg, "'"));
    }
    if (!spec->takes_value) {
      if (inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("--", spec->name, " takes no value"));
      }
      out.values_[spec->name] = "true";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", spec->name, " needs a value (", spec->value_name, ")"));
      }
      inline_value = args[++i];
    }
    out.values_[spec->name] = *inline_value;
    out.all_[spec->name].push_back(*inline_value);
  }
  if (out.positional_.size() > max_positional) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", out.positional_[max_positional], "'"));
  }
  return out;
}

std::string FlagsUsage(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const FlagSpec& s : specs) {
    std::string left = s.short_name != 0 ? absl::StrCat("  -", std::string(1, s.short_name), ", --")
                                         : std::string("      --");
    absl::StrAppend(&left, s.name, s.takes_value ? absl::StrCat(" ", s.value_name) : "");
    if (left.size() < 34) left.resize(34, ' ');
    absl::StrAppend(&out, left, " ", s.help, "\n");
  }
  return out;
}

absl::StatusOr<long long> ParseIntFlag(absl::string_view name, absl::string_view value,
                                       long long min, long long max) {
  long long n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a whole number from ", min,
                                                   " to ", max, ", not '", value, "'"));
  }
  return n;
}

}  // namespace slate
