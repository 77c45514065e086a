#include "client/rpc_client.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"

#include "client/exit_codes.h"
#include "server/common/secrets.h"

namespace slate::ctl {
namespace {

std::string FlagOrEnv(const ParsedArgs& args, const char* flag, const char* env,
                      const std::string& fallback = "") {
  if (auto v = args.Get(flag)) return *v;
  const char* e = std::getenv(env);
  return e != nullptr && *e != '\0' ? std::string(e) : fallback;
}

}  // namespace

const std::vector<FlagSpec>& ConnectionFlags() {
  static const std::vector<FlagSpec> flags = {
      {"server", 0, true, "HOST:PORT", "the replicator's control address (127.0.0.1:50051)"},
      {"token", 0, true, "TOKEN", "bearer token (prefer --token-file or SLATE_TOKEN)"},
      {"token-file", 0, true, "FILE", "file holding the bearer token"},
      {"tls-ca", 0, true, "FILE", "use TLS, trusting this CA (PEM)"},
      {"tls-cert", 0, true, "FILE", "client certificate for mTLS (PEM)"},
      {"tls-key", 0, true, "FILE", "client key for mTLS (PEM)"},
      {"tls-server-name", 0, true, "NAME", "expected name in the server's certificate"},
      {"timeout", 0, true, "SECONDS", "deadline of each call (default 10)"},
  };
  return flags;
}

std::string ConnectionUsage() {
  return absl::StrCat("\nConnection:\n", FlagsUsage(ConnectionFlags()),
                      "Environment: SLATE_SERVER, SLATE_TOKEN, SLATE_TLS_CA, SLATE_TLS_CERT, "
                      "SLATE_TLS_KEY stand for the flags.\n");
}

absl::StatusOr<Connection> Connect(const ParsedArgs& args) {
  Connection conn;
  conn.server = FlagOrEnv(args, "server", "SLATE_SERVER", "127.0.0.1:50051");
  if (auto file = args.Get("token-file")) {
    auto token = ReadSecretFile(*file, "token file");
    if (!token.ok()) return token.status();
    conn.token = *token;
  } else {
    conn.token = FlagOrEnv(args, "token", "SLATE_TOKEN");
  }
  if (auto t = args.Get("timeout")) {
    auto n = ParseIntFlag("timeout", *t, 1, 3600);
    if (!n.ok()) return n.status();
    conn.timeout_seconds = static_cast<double>(*n);
  }
  const std::string ca = FlagOrEnv(args, "tls-ca", "SLATE_TLS_CA");
  const std::string cert = FlagOrEnv(args, "tls-cert", "SLATE_TLS_CERT");
  const std::string key = FlagOrEnv(args, "tls-key", "SLATE_TLS_KEY");
  grpc::ChannelArguments channel_args;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!ca.empty() || !cert.empty() || !key.empty()) {
    if (ca.empty()) return absl::InvalidArgumentError("--tls-cert and --tls-key need --tls-ca");
    if (cert.empty() != key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    grpc::SslCredentialsOptions ssl;
    for (auto [path, out] :
         {std::pair{&ca, &ssl.pem_root_certs}, std::pair{&cert, &ssl.pem_cert_chain},
          std::pair{&key, &ssl.pem_private_key}}) {
      if (path->empty()) continue;
      auto text = ReadSecretFile(*path);
      if (!text.ok()) return text.status();
      *out = *text;
    }
    creds = grpc::SslCredentials(ssl);
    if (auto name = args.Get("tls-server-name")) {
      channel_args.SetSslTargetNameOverride(*name);
    }
  }
  conn.channel = grpc::CreateCustomChannel(conn.server, creds, channel_args);
  return conn;
}

std::unique_ptr<grpc::ClientContext> Connection::Context(bool with_deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (with_deadline) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  }
  if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return context;
}

int ReportRpcError(const std::string& command, const Connection& conn, const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "slatectl " << command << ": cannot reach slate-replicator at " << conn.server
                << ": " << status.error_message()
                << "\n(is it running? check --server or SLATE_SERVER, and the TLS flags)\n";
      return kExitUnreachable;
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "slatectl " << command << ": " << status.error_message() << "\n";
      return kExitFailed;
    case grpc::StatusCode::INVALID_ARGUMENT:
      std::cerr << "slatectl " << command
                << ": the server rejected the request: " << status.error_message() << "\n";
      return kExitFailed;
    default:
      std::cerr << "slatectl " << command << ": " << status.error_message() << " (code "
                << static_cast<int>(status.error_code()) << ")\n";
      return kExitFailed;
  }
}

}  // namespace slate::ctl
