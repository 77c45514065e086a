#pragma once

// The Prometheus endpoint: every scrape renders the replicator's status (core::Control::Status(),
// the same snapshot slatectl status shows) as metric families, so metrics and status never
// disagree and the engine carries no metrics code. README.md lists every metric.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "server/core/control.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace slate::metrics {

class StatusCollector;

class Exporter {
 public:
  // Serves http://<address>/metrics ("127.0.0.1:0" picks a port). Unavailable when the address
  // cannot be bound. `control` must outlive the exporter.
  static absl::StatusOr<std::unique_ptr<Exporter>> Start(const std::string& address,
                                                         const core::Control* control,
                                                         absl::Duration heartbeat_timeout);
  ~Exporter();
  int port() const { return port_; }

 private:
  Exporter() = default;
  std::shared_ptr<StatusCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// The exposition text for a status, as a scrape would return it (for tests).
std::string RenderForTest(const core::ServerInfo& info, const core::EngineStatus& status,
                          absl::Time now, absl::Duration heartbeat_timeout);

}  // namespace slate::metrics
