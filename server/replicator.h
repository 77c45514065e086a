#pragma once

// The running replicator: config -> validation -> engine with PostgreSQL adapters, and the
// core::Control the gRPC service serves. Shared by main and the tests.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "server/config/config.h"
#include "server/core/control.h"
#include "server/core/engine.h"
#include "server/core/validation.h"

namespace slate {

// "slate-replicator/<pid>@<host>": the application_name of this process's connections, so
// pg_stat_activity and lock-holder messages say which replicator it is.
std::string InstanceName();

// Gathers facts from every database in `config` (in parallel) and runs every start-up check.
// Writes nothing. A destination's held writer lock is waited for up to `lock_wait` (see
// pg::GatherFacts); a lock held under `own_application_name` passes.
std::vector<core::Check> ValidateDatabases(const config::Config& config,
                                           absl::Duration lock_wait = absl::ZeroDuration(),
                                           const std::string& own_application_name = "");

// An engine (not started) replicating `config`'s source into its destinations; its connections
// carry `application_name`.
std::unique_ptr<core::Engine> BuildEngine(const config::Config& config,
                                          const std::string& application_name = "slate-replicator");

class Replicator : public core::Control {
 public:
  Replicator(config::Config config, std::string instance_name);

  core::Engine& engine() { return *engine_; }
  const config::Config& config() const { return config_; }
  // The absolute time by which a requested stop must be done (InfiniteFuture: no limit).
  absl::Time stop_deadline() const;

  // core::Control
  core::ServerInfo Info() const override;
  core::EngineStatus Status() const override;
  void AwaitChange(uint64_t* version, absl::Duration timeout) const override;
  absl::StatusOr<core::ValidationReport> Validate(const std::string& config_json) override;
  void Stop(absl::Duration deadline) override;

 private:
  const config::Config config_;
  const std::string instance_name_;
  std::unique_ptr<core::Engine> engine_;
  mutable absl::Mutex mu_;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

// The run parameters of a config as "name: value" lines, for reports.
std::vector<std::string> ParameterLines(const config::Config& config);

}  // namespace slate
