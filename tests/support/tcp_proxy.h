#pragma once

// A TCP fault proxy for tests, on loopback only: forwards 127.0.0.1:<port()> to
// 127.0.0.1:<target>, and on request cuts every connection (both ends see a reset or EOF) or
// blackholes them (connections stay open, no byte moves either way, new connections are accepted
// but not forwarded), as a dropped network path does. Thread-safe.

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace slate::testing {

class TcpProxy {
 public:
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int target_port);
  ~TcpProxy();

  int port() const { return port_; }
  // Closes every open connection now; new ones are forwarded as usual.
  void Cut();
  void Blackhole(bool on) { blackhole_ = on; }
  int connections_accepted() const { return accepted_; }

 private:
  TcpProxy() = default;
  void AcceptLoop();
  void Pump(int client);

  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> blackhole_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::set<int> open_fds_;  // guarded by mu_
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // guarded by mu_
};

}  // namespace slate::testing
