#include "server/replicator.h"

#include <unistd.h>

#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"

#include "server/common/log.h"
#include "server/common/status_macros.h"
#include "server/common/version.h"
#include "server/core/source_feed.h"
#include "server/grpc/rpc_server.h"
#include "server/metrics/exporter.h"
#include "server/postgres/adapters.h"
#include "server/postgres/facts.h"

namespace slate {

std::string InstanceName() {
  char host[64] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name = absl::StrCat("slate-replicator/", getpid(), "@", host);
  if (name.size() > 63) name.resize(63);  // PostgreSQL's NAMEDATALEN - 1
  return name;
}

namespace {

struct AllFacts {
  core::DatabaseFacts source;
  std::vector<core::DatabaseFacts> destinations;
};

std::string DestinationLabel(const config::DatabaseConfig& d) {
  return absl::StrCat("destination ", d.name);
}

// The destinations first (all at once), the source after them: the source only grows, so a
// source read later than every destination's can never make a correct destination look ahead of
// it, however fast events are appended meanwhile.
int GroupKeyOf(const config::Config& config) {
  std::vector<ConnParams> destinations;
  for (const config::DatabaseConfig& d : config.destinations) destinations.push_back(d.params);
  return pg::GroupKey(config.instance_group, config.source.params, destinations);
}

AllFacts GatherAll(const config::Config& config, absl::Duration lock_wait) {
  const int group_key = GroupKeyOf(config);
  std::vector<std::future<core::DatabaseFacts>> pending;
  for (const config::DatabaseConfig& d : config.destinations) {
    pending.push_back(std::async(std::launch::async, [&d, lock_wait, group_key] {
      return pg::GatherFacts(d.params, DestinationLabel(d), true, lock_wait, group_key);
    }));
  }
  AllFacts facts;
  for (auto& f : pending) facts.destinations.push_back(f.get());
  facts.source = pg::GatherFacts(config.source.params, "source", false);
  return facts;
}

core::ValidationOptions OptionsFor(const config::Config& config,
                                   const std::string& own_application_name) {
  core::ValidationOptions options;
  options.allow_holes = config.engine.skip_holes_after > absl::ZeroDuration();
  options.own_application_name = own_application_name;
  return options;
}

// The start-up checks of a destination that (or whose source) did not answer at start, run by
// its loop before it first connects: Unavailable while either does not answer (retried),
// InvalidArgument for a definitive answer (this destination fails; the others go on).
absl::Status DeferredStartupCheck(const config::Config& config, size_t index) {
  const config::DatabaseConfig& d = config.destinations[index];
  const core::DatabaseFacts dest = pg::GatherFacts(d.params, DestinationLabel(d), true);
  const core::DatabaseFacts source = pg::GatherFacts(config.source.params, "source", false);
  // The writer lock is the sink's to take when it connects (and to wait for, retrying).
  core::ValidationOptions options = OptionsFor(config, "");
  options.check_writer_lock = false;
  std::vector<std::string> definitive;
  for (const core::Check& c : core::ValidateFacts(source, {dest}, options)) {
    if (c.result != core::CheckResult::kFail) continue;
    if (c.transient) return absl::UnavailableError(c.message);
    definitive.push_back(absl::StrCat(c.name, ": ", c.message));
  }
  if (definitive.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("start-up checks failed: ", absl::StrJoin(definitive, "; ")));
}

// Logs every check and a summary; returns the number that failed.
int LogChecks(const std::vector<core::Check>& checks) {
  auto log = log::Get("main");
  int failed = 0;
  int warned = 0;
  for (const core::Check& c : checks) {
    const log::Fields fields = {
        {"check", c.name}, {"result", core::CheckResultName(c.result)}, {"detail", c.message}};
    switch (c.result) {
      case core::CheckResult::kPass:
        log::Info(*log, "check passed", fields);
        break;
      case core::CheckResult::kWarn:
        ++warned;
        log::Warn(*log, "check warning", fields);
        break;
      case core::CheckResult::kFail:
        ++failed;
        log::Error(*log, "check failed", fields);
        break;
    }
  }
  log::Write(
      *log, failed > 0 ? spdlog::level::err : spdlog::level::info, "validation finished",
      {{"checks", static_cast<int64_t>(checks.size())}, {"failed", failed}, {"warnings", warned}});
  return failed;
}

}  // namespace

std::vector<core::Check> ValidateDatabases(const config::Config& config, absl::Duration lock_wait,
                                           const std::string& own_application_name) {
  const AllFacts facts = GatherAll(config, lock_wait);
  return core::ValidateFacts(facts.source, facts.destinations,
                             OptionsFor(config, own_application_name));
}

std::unique_ptr<core::Engine> BuildEngine(const config::Config& config,
                                          const std::string& application_name,
                                          const EngineBuild& build) {
  const std::vector<bool>& deferred_checks = build.deferred_checks;
  const int group_key = build.fence_former_actives ? GroupKeyOf(config) : 0;
  const core::EngineOptions& options = config.engine;
  ConnParams source = config.source.params;
  source.application_name = application_name;
  const std::string source_what = absl::StrCat("source (", source.Describe(), ")");
  std::vector<core::DestinationSetup> setups;
  // With several destinations, catch-up reads share one stream of the source while they keep pace
  // (server/core/source_feed.h): up to 4 MB of rows between the fastest and the slowest, or
  // longer than half a second a whole buffer apart.
  std::shared_ptr<core::SourceFeed> feed;
  if (config.destinations.size() > 1) {
    feed = core::SourceFeed::Create(pg::NewEventSource(source, source_what), size_t{4} << 20,
                                    pg::kSmallReadRows, absl::Milliseconds(500));
  }
  for (size_t i = 0; i < config.destinations.size(); ++i) {
    const config::DatabaseConfig& d = config.destinations[i];
    ConnParams dest = d.params;
    dest.application_name = application_name;
    core::DestinationSetup s;
    s.name = d.name;
    s.dsn = dest.Describe();
    s.source = pg::NewEventSource(source, source_what);
    if (feed != nullptr) s.source = feed->NewSharedSource(std::move(s.source));
    const std::string what = absl::StrCat("destination ", d.name, " (", s.dsn, ")");
    pg::SinkOptions sink_options;
    sink_options.synchronous_commit = options.synchronous_commit;
    sink_options.group_key = group_key;
    sink_options.take_writer_lock = build.take_writer_locks;
    s.sink = pg::NewEventSink(dest, what, sink_options);
    sink_options.take_writer_lock = false;
    for (int helper = 1; helper < options.parallel_writes; ++helper) {
      s.helpers.push_back(pg::NewEventSink(dest, what, sink_options));
    }
    if (i < deferred_checks.size() && deferred_checks[i]) {
      s.startup_check = [&config, i] { return DeferredStartupCheck(config, i); };
    }
    setups.push_back(std::move(s));
  }
  return std::make_unique<core::Engine>(
      options, source.Describe(), pg::NewWakeupSource(source, source_what), std::move(setups));
}

bool ValidateAndLog(const config::Config& config, absl::Duration lock_wait) {
  return LogChecks(ValidateDatabases(config, lock_wait)) == 0;
}

std::vector<std::string> ParameterLines(const config::Config& config) {
  std::vector<std::string> out;
  for (const auto& [name, value] : config::DescribeConfig(config)) {
    out.push_back(absl::StrCat(name, ": ", value));
  }
  return out;
}

Replicator::Replicator(ReplicatorOptions options, std::vector<bool> deferred_checks)
    : options_(std::move(options)), deferred_checks_(std::move(deferred_checks)) {
  ConnParams source = options_.config.source.params;
  source.application_name = options_.instance_name;
  pg::LeaderLockOptions lock;
  lock.group_key = GroupKeyOf(options_.config);
  election_ = std::make_unique<core::Election>(
      core::ElectionOptions{}, pg::NewLeaderLock(source, "source (leader lock)", lock),
      core::Clock::Real(),
      core::ElectionCallbacks{[this] { BecomeActive(); }, [this] { BecomeStandby(); }});
}

Replicator::~Replicator() { steps_.RunAll(); }

absl::StatusOr<std::unique_ptr<Replicator>> Replicator::Start(ReplicatorOptions options) {
  auto log = log::Get("main");
  // A real start waits (up to connectTimeout) for a crashed predecessor's session to release a
  // destination's writer lock; one held by a live instance of this config is waited for as its
  // standby.
  const AllFacts facts =
      GatherAll(options.config, absl::Milliseconds(options.config.connect_timeout_ms));
  const std::vector<core::Check> checks =
      core::ValidateFacts(facts.source, facts.destinations, OptionsFor(options.config, ""));
  LogChecks(checks);
  const core::StartDecision decision = core::DecideStart(facts.source, facts.destinations, checks);
  if (decision.refuse) {
    return absl::FailedPreconditionError(
        "not starting: fix the failed checks above (--dry-run repeats them)");
  }
  if (decision.source_waiting) {
    log::Warn(*log, "the source did not answer; starting anyway and retrying it",
              {{"error", facts.source.error},
               {"then", "every destination runs its start-up checks when the source answers"}});
  }
  for (size_t i = 0; i < facts.destinations.size(); ++i) {
    if (!facts.destinations[i].reachable) {
      log::Warn(*log, "a destination did not answer; the others start, it is retried",
                {{"destination", options.config.destinations[i].name},
                 {"error", facts.destinations[i].error},
                 {"then", "its start-up checks run when it answers"}});
    }
  }
  if (options.stop->requested()) return absl::CancelledError("stopped before replicating");
  std::unique_ptr<Replicator> r(new Replicator(std::move(options), decision.destination_deferred));
  RETURN_IF_ERROR(r->StartServices());
  return r;
}

absl::Status Replicator::StartServices() {
  auto log = log::Get("main");
  const ServiceOptions& svc = options_.services;
  if (svc.listen != "none") {
    rpc::RpcOptions rpc_options;
    rpc_options.listen = svc.listen;
    rpc_options.tls_cert_file = svc.tls_cert_file;
    rpc_options.tls_key_file = svc.tls_key_file;
    rpc_options.tls_client_ca_file = svc.tls_client_ca_file;
    rpc_options.token = svc.token;
    auto started = rpc::RpcServer::Start(rpc_options, this);
    if (!started.ok()) {
      return absl::Status(started.status().code(), absl::StrCat("cannot serve the control API: ",
                                                                started.status().message()));
    }
    rpc_server_ = std::move(*started);
    steps_.Defer("control API", [this] { rpc_server_->Shutdown(absl::Seconds(1)); });
    log::Info(*log, "control API listening",
              {{"address", svc.listen},
               {"port", rpc_server_->port()},
               {"tls", rpc_server_->tls()},
               {"client_certificates", !svc.tls_client_ca_file.empty()},
               {"token_required", !svc.token.empty()}});
  }
  if (svc.metrics_listen != "none") {
    auto started =
        metrics::Exporter::Start(svc.metrics_listen, this, options_.config.heartbeat_timeout);
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat("cannot serve metrics: ", started.status().message()));
    }
    exporter_ = std::move(*started);
    steps_.Defer("metrics", [this] { exporter_.reset(); });
    log::Info(*log, "metrics listening",
              {{"address", svc.metrics_listen}, {"port", exporter_->port()}, {"path", "/metrics"}});
  }
  election_thread_ = std::thread([this] { election_->Run(); });
  steps_.Defer(
      "election and engine: finishing or rolling back open batches, closing connections, "
      "releasing the leader lock",
      [this] {
        election_->Stop();
        election_thread_.join();
      });
  if (rpc_server_) {
    rpc_server_->SetHealth(/*ready=*/false, /*live=*/true);
    // NOT_SERVING as soon as a stop begins, before the engine winds down.
    steps_.Defer("health: not serving", [this] { rpc_server_->SetServing(false); });
  }
  return absl::OkStatus();
}

void Replicator::BecomeActive() {
  EngineBuild build;
  build.deferred_checks = deferred_checks_;
  build.fence_former_actives = true;
  std::shared_ptr<core::Engine> engine =
      BuildEngine(options_.config, options_.instance_name, build);
  if (options_.stop->requested()) engine->RequestStop();
  engine->Start();
  {
    absl::MutexLock lock(&mu_);
    engine_ = engine;
    ++role_version_;
  }
  log::Info(*log::Get("main"), "replicating",
            {{"destinations", static_cast<int64_t>(options_.config.destinations.size())}});
}

void Replicator::BecomeStandby() {
  std::shared_ptr<core::Engine> engine;
  {
    absl::MutexLock lock(&mu_);
    engine = std::move(engine_);
    engine_ = nullptr;
    ++role_version_;
  }
  if (engine == nullptr) return;
  engine->RequestStop();
  engine->Join();
  log::Info(*log::Get("main"), "engine stopped; every write has ended");
}

std::shared_ptr<core::Engine> Replicator::engine() const {
  absl::MutexLock lock(&mu_);
  return engine_;
}

core::EngineStatus Replicator::StandbyStatus(const core::ElectionState& election) const {
  core::EngineStatus s;
  s.standby = true;
  s.stopping = options_.stop->requested();
  s.active_instance = election.holder;
  s.source.dsn = options_.config.source.params.Describe();
  // While the source (where the leader lock is) does not answer, nothing can start: the source
  // and every destination show connecting, with the error and the next attempt.
  const std::string& error = election.last_error;
  s.source.last_error = error;
  if (!error.empty()) s.source.next_retry = election.next_retry;
  for (const config::DatabaseConfig& d : options_.config.destinations) {
    core::DestinationStatus ds;
    ds.name = d.name;
    ds.dsn = d.params.Describe();
    if (!error.empty()) {
      ds.state = core::DestinationState::kConnecting;
      ds.last_error = absl::StrCat("waiting for the source: ", error);
      ds.next_retry = election.next_retry;
    }
    s.destinations.push_back(std::move(ds));
  }
  return s;
}

void Replicator::Wait() {
  auto log = log::Get("main");
  bool ready = false;
  // Until a stop (or every destination failed): judge readiness every second, for health.
  while (true) {
    const bool stop = options_.stop->WaitFor(absl::Seconds(1));
    const std::shared_ptr<core::Engine> engine = this->engine();
    const bool failed = engine != nullptr && core::AllDestinationsFailed(engine->Snapshot());
    const core::Readiness r = Readiness();
    if (r.ready != ready) {
      ready = r.ready;
      if (ready) {
        log::Info(*log, "ready: every destination is replicating");
      } else {
        log::Warn(*log, "not ready", {{"reason", r.reason}});
      }
    }
    if (stop || failed) return;
    if (rpc_server_) rpc_server_->SetHealth(ready, /*live=*/true);
  }
}

bool Replicator::Shutdown() {
  const bool requested = options_.stop->requested();
  // A Stop RPC may bound the shutdown: past its deadline, the process ends at once.
  absl::Notification done;
  std::thread deadline_watch([this, &done] {
    const absl::Time deadline = options_.stop->deadline();
    if (deadline == absl::InfiniteFuture()) return;
    if (!done.WaitForNotificationWithDeadline(deadline)) {
      log::Warn(*log::Get("main"), "stop deadline passed; exiting now (open batches roll back)");
      if (options_.on_stop_deadline) options_.on_stop_deadline();
    }
  });
  steps_.RunAll();
  done.Notify();
  deadline_watch.join();
  return requested;
}

core::Readiness Replicator::Readiness() const {
  return core::AssessReadiness(Status(), absl::Now(), options_.config.heartbeat_timeout);
}

core::ServerInfo Replicator::Info() const {
  core::ServerInfo info;
  info.version = kVersion;
  info.build = absl::StrCat("g++ ", __VERSION__, ", C++", __cplusplus / 100 % 100);
  info.pid = getpid();
  return info;
}

core::EngineStatus Replicator::Status() const {
  const core::ElectionState election = election_->state();
  const std::shared_ptr<core::Engine> engine = this->engine();
  core::EngineStatus s = engine != nullptr ? engine->Snapshot() : StandbyStatus(election);
  s.last_takeover = election.last_takeover;
  return s;
}

void Replicator::AwaitChange(uint64_t* version, absl::Duration timeout) const {
  const std::shared_ptr<core::Engine> engine = this->engine();
  if (engine != nullptr) {
    engine->board().AwaitChange(version, timeout);
    return;
  }
  // A standby's status changes with its role (and its view of the active): wake on a role change.
  absl::MutexLock lock(&mu_);
  const uint64_t seen = role_version_;
  auto changed = [this, seen]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return role_version_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
}

absl::StatusOr<core::ValidationReport> Replicator::Validate(const std::string& config_json) {
  core::ValidationReport report;
  if (config_json.empty()) {
    report.checks =
        ValidateDatabases(options_.config, absl::ZeroDuration(), options_.instance_name);
    report.parameters = ParameterLines(options_.config);
    return report;
  }
  auto other = config::ParseConfig(config_json, config::DefaultSecretLookup());
  if (!other.ok()) return other.status();
  report.checks = ValidateDatabases(*other, absl::ZeroDuration(), options_.instance_name);
  report.parameters = ParameterLines(*other);
  return report;
}

// Only requests: Wait() returns, and main's Shutdown() stops the engine and then the API.
void Replicator::Stop(absl::Duration deadline) { options_.stop->Request(deadline); }

}  // namespace slate
