#include "client/command_common.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/str_join.h"
#include <google/protobuf/util/json_util.h>

#include "client/exit_codes.h"

namespace slate::ctl {

std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> own) {
  own.push_back({"help", 'h', false, "", "show this help"});
  for (const FlagSpec& f : ConnectionFlags()) own.push_back(f);
  return own;
}

std::optional<int> Parse(const std::string& command, const std::vector<FlagSpec>& flags,
                         const std::string& synopsis, const std::string& about,
                         const std::vector<std::string>& args, ParsedArgs* out,
                         size_t max_positional) {
  auto usage = [&](std::ostream& os) {
    os << "Usage: slatectl " << command << " " << synopsis << "\n\n"
       << about << "\n\n"
       << FlagsUsage(flags);
  };
  auto parsed = ParseArgs(flags, args, max_positional);
  if (!parsed.ok()) {
    std::cerr << "slatectl " << command << ": " << parsed.status().message() << "\n\n";
    usage(std::cerr);
    return kExitUsage;
  }
  if (parsed->Has("help")) {
    usage(std::cout);
    std::cout << "\nEnvironment: SLATE_SERVER, SLATE_TOKEN, SLATE_TLS_CA, SLATE_TLS_CERT, "
                 "SLATE_TLS_KEY stand for the connection flags.\n";
    return kExitOk;
  }
  *out = std::move(*parsed);
  return std::nullopt;
}

const config::DatabaseConfig* FindDestination(const std::string& command,
                                              const config::Config& config,
                                              const std::string& name) {
  std::vector<std::string> names;
  for (const config::DatabaseConfig& d : config.destinations) {
    if (d.name == name) return &d;
    names.push_back(d.name);
  }
  std::cerr << "slatectl " << command << ": no destination named '" << name
            << "' in the config; its destinations are: " << absl::StrJoin(names, ", ") << "\n";
  return nullptr;
}

ConnParams WithLongCalls(ConnParams params) {
  if (params.stall_timeout_ms > 0) {
    params.stall_timeout_ms = std::max<int64_t>(params.stall_timeout_ms, 600000);
  }
  return params;
}

std::optional<int> Open(const std::string& command, const ParsedArgs& args, Connection* conn) {
  auto c = Connect(args);
  if (!c.ok()) {
    std::cerr << "slatectl " << command << ": " << c.status().message() << "\n";
    return kExitUsage;
  }
  *conn = std::move(*c);
  return std::nullopt;
}

std::string Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace slate::ctl
