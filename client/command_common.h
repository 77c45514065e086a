#pragma once

// What every slatectl subcommand that calls the server shares: its flags with the connection
// flags, parsing with usage on error, opening the connection, JSON output.

#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "client/rpc_client.h"
#include "server/common/args.h"
#include "server/config/config.h"

namespace slate::ctl {

// `own` plus --help and the connection flags.
std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> own);
// Parses flags (and up to `max_positional` arguments); on a usage error prints it with the usage
// and returns kExitUsage; for --help prints the usage and returns kExitOk.
std::optional<int> Parse(const std::string& command, const std::vector<FlagSpec>& flags,
                         const std::string& synopsis, const std::string& about,
                         const std::vector<std::string>& args, ParsedArgs* out,
                         size_t max_positional = 0);
// The destination named `name` in `config`; null after printing that there is none, with the
// names there are (the caller exits kExitUsage).
const config::DatabaseConfig* FindDestination(const std::string& command,
                                              const config::Config& config,
                                              const std::string& name);
// `params` for slatectl's long one-shot queries (verify's checksums, repair, restore): a call may
// take minutes on a large or busy database, so it is bounded at 10 minutes at least instead of
// the replicator's stallTimeout (TCP keepalives still notice a peer that vanished).
ConnParams WithLongCalls(ConnParams params);
// Connects; on failure prints why and returns kExitUsage.
std::optional<int> Open(const std::string& command, const ParsedArgs& args, Connection* conn);
// The message as one line of JSON, every field present, proto field names.
std::string Json(const google::protobuf::Message& message);

}  // namespace slate::ctl
