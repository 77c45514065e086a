#pragma once

// slatectl's connection to a slate-replicator: flags and environment, channel, call context,
// and the mapping of RPC failures to exit codes.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include <grpcpp/grpcpp.h>

#include "server/common/args.h"

namespace slate::ctl {

// --server, --token, --token-file, --tls-ca, --tls-cert, --tls-key, --tls-server-name, --timeout.
const std::vector<FlagSpec>& ConnectionFlags();
// Help text for them, with their environment variables.
std::string ConnectionUsage();

struct Connection {
  std::string server;  // host:port
  std::string token;
  double timeout_seconds = 10;
  std::shared_ptr<grpc::Channel> channel;
  // A context with the deadline and, when there is a token, the authorization header.
  std::unique_ptr<grpc::ClientContext> Context(bool with_deadline = true) const;
};

// From flags, falling back to SLATE_SERVER, SLATE_TOKEN, SLATE_TLS_CA, SLATE_TLS_CERT,
// SLATE_TLS_KEY. InvalidArgument for unreadable files or bad values.
absl::StatusOr<Connection> Connect(const ParsedArgs& args);

// Prints the failure and returns the exit code: 3 for an unreachable server, 2 for a rejected
// argument, 1 otherwise.
int ReportRpcError(const std::string& command, const Connection& conn, const grpc::Status& status);

}  // namespace slate::ctl
