#pragma once

// The running replicator: config -> validation -> engine with PostgreSQL adapters, the control
// API and the metrics endpoint, and the core::Control the gRPC service serves.
//
// Lifecycle (main.cc is flags -> options -> Start -> Wait -> Shutdown -> exit code):
//   Start(options)  validates the databases, then starts the control API, the metrics endpoint
//                   and the election (server/core/election.h), each registering its stop where
//                   it starts. The instance that takes the config's leader lock is active and
//                   runs an engine; the others are standbys (live, not ready, writing nothing)
//                   until the lock is free; an active that cannot confirm its lock stops its
//                   engine at once (fencing);
//   Wait()          returns when a stop was requested (signal, Stop RPC) or every destination
//                   failed, keeping health (readiness) current meanwhile;
//   Shutdown()      runs the registered stops in reverse order, each logged, bounded by a Stop
//                   RPC's deadline.
// Threads: Start, Wait and Shutdown on one thread (main's); the core::Control methods from any
// (the RPC handlers).

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/config/config.h"
#include "server/config/reload_plan.h"
#include "server/core/control.h"
#include "server/core/election.h"
#include "server/core/engine.h"
#include "server/core/source_feed.h"
#include "server/core/validation.h"
#include "server/lifecycle.h"

namespace slate {
namespace rpc {
class RpcServer;
}  // namespace rpc
namespace metrics {
class Exporter;
}  // namespace metrics

// "slate-replicator/<pid>@<host>": the application_name of this process's connections, so
// pg_stat_activity and lock-holder messages say which replicator it is.
std::string InstanceName();

// Gathers facts from every database in `config` (the destinations in parallel, then the source,
// so appends to the source during the check cannot make a destination look ahead) and runs every
// start-up check. Writes nothing. A destination's held writer lock is waited for up to `lock_wait`
// (see pg::GatherFacts); a lock held under `own_application_name` passes.
std::vector<core::Check> ValidateDatabases(const config::Config& config,
                                           absl::Duration lock_wait = absl::ZeroDuration(),
                                           const std::string& own_application_name = "");
// ValidateDatabases, every check logged, and a summary line; true when none failed.
bool ValidateAndLog(const config::Config& config, absl::Duration lock_wait);

struct EngineBuild {
  // Destinations marked here run their start-up checks when they (and the source) first answer.
  std::vector<bool> deferred_checks;
  // An elected active: its writer sessions carry the config's group lock, and a former active's
  // lingering sessions on a destination are ended (server/postgres/adapters.h, SinkOptions).
  bool fence_former_actives = false;
  // The group's key for that (0: derived from the config). A reload keeps the one of the start,
  // so every session of this instance carries one key.
  int group_key = 0;
  // False only in tests that force two writers at once (the destination's own rules must hold).
  bool take_writer_locks = true;
};

// An engine (not started) replicating `config`'s source into its destinations; its connections
// carry `application_name` (copied: `config` need not outlive it).
std::unique_ptr<core::Engine> BuildEngine(const config::Config& config,
                                          const std::string& application_name = "slate-replicator",
                                          const EngineBuild& build = {});

// One destination of `config` as the engine runs it (its own source reader, or a share of `feed`
// when not null). `deferred_check`: its start-up checks run when it and the source first answer.
core::DestinationSetup BuildDestination(const config::Config& config, size_t index,
                                        const std::string& application_name,
                                        const EngineBuild& build, bool deferred_check,
                                        const std::shared_ptr<core::SourceFeed>& feed);

// The run parameters of a config as "name: value" lines, for reports.
std::vector<std::string> ParameterLines(const config::Config& config);

struct ServiceOptions {
  // The control API (see server/grpc/rpc_server.h); listen "none" serves none.
  std::string listen = "127.0.0.1:50051";
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  std::string token;
  std::string metrics_listen = "127.0.0.1:9466";  // "none" serves none
};

struct ReplicatorOptions {
  config::Config config;
  std::string config_path;  // re-read by Reload()
  ServiceOptions services;
  std::string instance_name;
  // Signals and the Stop RPC ask through this; it must outlive the replicator.
  StopRequest* stop = nullptr;
  // SIGHUP asks through this (optional); it must outlive the replicator.
  ReloadSignal* reload = nullptr;
  // Called (from another thread) when a stop's deadline passes before the shutdown is done; it
  // must end the process.
  std::function<void()> on_stop_deadline;
};

// Why Start() did not start: a check failed definitively (FailedPrecondition; a database that
// merely did not answer is waited for instead), a service could not start (InvalidArgument,
// Unavailable: the address or TLS files), a stop came first (Cancelled).
class Replicator : public core::Control {
 public:
  static absl::StatusOr<std::unique_ptr<Replicator>> Start(ReplicatorOptions options);
  ~Replicator() override;

  // Until a stop is requested or every destination failed.
  void Wait();
  // Ordered shutdown; returns true when it followed a stop request (false: every destination
  // failed).
  bool Shutdown();
  // Ready: active, replicating, every destination heartbeating (core::AssessReadiness).
  core::Readiness Readiness() const;

  // core::Control
  core::ServerInfo Info() const override;
  core::EngineStatus Status() const override;
  void AwaitChange(uint64_t* version, absl::Duration timeout) const override;
  absl::StatusOr<core::ValidationReport> Validate(const std::string& config_json) override;
  void Stop(absl::Duration deadline) override;
  absl::StatusOr<core::ReloadReport> Reload() override;
  absl::Status Pause(const std::string& name, const std::string& by, bool* changed) override;
  absl::Status Resume(const std::string& name, const std::string& by, bool* changed) override;
  absl::Status WaitForPosition(int64_t id, std::vector<std::string> names, absl::Duration timeout,
                               core::PositionWaiters::Done done) override;

 private:
  Replicator(ReplicatorOptions options, const std::vector<bool>& deferred_checks);
  absl::Status StartServices();
  void BecomeActive();   // the election's thread
  void BecomeStandby();  // the election's thread: returns when the engine has stopped
  std::shared_ptr<core::Engine> engine() const;
  core::EngineStatus StandbyStatus(const core::ElectionState& election) const;
  absl::StatusOr<core::ReloadReport> ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // Adds destination `index` of `config` to `engine` (paused when it is to be).
  absl::Status AddTo(core::Engine& engine, const config::Config& config, size_t index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::Status CheckKnown(const std::string& name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::Status SetPaused(const std::string& name, bool paused, const std::string& by,
                         bool* changed);

  // Constant after Start().
  const ReplicatorOptions options_;
  const int group_key_;  // from the config at start; reloads keep it
  std::unique_ptr<core::Election> election_;
  std::thread election_thread_;
  std::thread reload_thread_;
  std::unique_ptr<rpc::RpcServer> rpc_server_;
  std::unique_ptr<metrics::Exporter> exporter_;
  ShutdownSteps steps_;

  // What runs (or runs once active): changed by reloads, pauses and resumes, one at a time.
  absl::Mutex reload_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  config::Config running_ ABSL_GUARDED_BY(reload_mu_);
  std::set<std::string> deferred_ ABSL_GUARDED_BY(reload_mu_);  // start-up checks on connect
  std::map<std::string, std::string> paused_ ABSL_GUARDED_BY(reload_mu_);  // name -> by what

  mutable absl::Mutex mu_;
  std::shared_ptr<core::Engine> engine_ ABSL_GUARDED_BY(mu_);  // while active
  uint64_t role_version_ ABSL_GUARDED_BY(mu_) = 0;             // bumped on every role change
  // A standby's view of the paused destinations and the reload counters (for Status()).
  std::map<std::string, std::string> paused_view_ ABSL_GUARDED_BY(mu_);
  std::vector<config::DatabaseConfig> destinations_view_ ABSL_GUARDED_BY(mu_);
  int64_t reloads_applied_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reloads_refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slate
