#pragma once

// The control server: ReplicatorService, grpc.health.v1 (SERVING while replicating) and server
// reflection, on one address, optionally with TLS (and client certificates for mTLS).
// Start() and Shutdown() are called from main, never from an RPC handler.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include <grpcpp/server.h>

#include "server/core/control.h"
#include "server/grpc/service.h"

namespace slate::rpc {

struct RpcOptions {
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  std::string tls_cert_file;               // with tls_key_file: serve TLS
  std::string tls_key_file;
  std::string tls_client_ca_file;  // also require client certificates signed by it
  std::string token;               // non-empty: every RPC but health needs it
};

class RpcServer {
 public:
  // InvalidArgument for unusable TLS files; Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<RpcServer>> Start(const RpcOptions& options,
                                                          core::Control* control);
  ~RpcServer();

  int port() const { return port_; }
  bool tls() const { return tls_; }
  // The health service's answers: the overall service "" is readiness (replicating and recently
  // heartbeating); "slate.replicator.v1.ReplicatorService" is liveness (up, no stop begun).
  void SetHealth(bool ready, bool live);
  // Both at once (tests, shutdown).
  void SetServing(bool serving) { SetHealth(serving, serving); }
  // Stops accepting calls; calls still running are cancelled after `deadline`.
  void Shutdown(absl::Duration deadline);

 private:
  RpcServer() = default;
  std::unique_ptr<ReplicatorServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool tls_ = false;
  bool shut_down_ = false;
};

}  // namespace slate::rpc
