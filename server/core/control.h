#pragma once

// What the control plane may ask of a running replicator: the gRPC service is a thin layer over
// this interface (server/grpc/), and tests substitute a fake. Implementations are thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "server/core/status.h"
#include "server/core/validation.h"

namespace slate::core {

struct ServerInfo {
  std::string version;
  std::string build;
  int64_t pid = 0;
};

struct ValidationReport {
  std::vector<Check> checks;
  std::vector<std::string> parameters;  // "name: value", never a secret
  bool passed() const { return AllPassed(checks); }
};

class Control {
 public:
  virtual ~Control() = default;
  virtual ServerInfo Info() const = 0;
  virtual EngineStatus Status() const = 0;
  // Returns when the status changed after *version (updating it) or the timeout passed.
  virtual void AwaitChange(uint64_t* version, absl::Duration timeout) const = 0;
  // The start-up validation of the running config (config_json empty) or of config_json, writing
  // nothing. InvalidArgument (every problem listed) when config_json is not a valid config.
  virtual absl::StatusOr<ValidationReport> Validate(const std::string& config_json) = 0;
  // Requests a graceful stop and returns at once. A non-zero deadline bounds the stop: past it
  // the process exits at once.
  virtual void Stop(absl::Duration deadline) = 0;
};

}  // namespace slate::core
