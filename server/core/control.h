#pragma once

// What the control plane may ask of a running replicator: the gRPC service is a thin layer over
// this interface (server/grpc/), and tests substitute a fake. Implementations are thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "server/core/position_waiters.h"
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

// What a reload did (see Control::Reload).
struct ReloadReport {
  bool applied = false;  // false on a standby: kept for when it becomes active
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> reconnected;  // connection settings changed
  std::vector<std::string> unchanged;
  std::vector<std::string> needs_restart;  // "key: old -> new, needs a restart"
  std::vector<std::string> warnings;
  std::vector<Check> checks;
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

  // Re-reads and applies the config file (SIGHUP does the same). InvalidArgument (every problem
  // listed) when the file is not a valid config, FailedPrecondition (every failed check listed)
  // when a check fails: then nothing changed.
  virtual absl::StatusOr<ReloadReport> Reload() = 0;
  // NotFound for an unknown destination; *changed false when it was already in that state.
  virtual absl::Status Pause(const std::string& name, const std::string& by, bool* changed) = 0;
  virtual absl::Status Resume(const std::string& name, const std::string& by, bool* changed) = 0;
  // Calls `done` once (possibly before returning) when every destination in `names` (empty:
  // every one) has committed `id`, or with DeadlineExceeded after `timeout` (see
  // position_waiters.h). An error returned (NotFound, Unavailable on a standby) means `done` is
  // never called.
  virtual absl::Status WaitForPosition(int64_t id, std::vector<std::string> names,
                                       absl::Duration timeout, PositionWaiters::Done done) = 0;
};

}  // namespace slate::core
