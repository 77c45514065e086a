#include "server/replicator.h"

#include <unistd.h>

#include <algorithm>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

#include "server/common/log.h"
#include "server/common/status_macros.h"
#include "server/common/version.h"
#include "server/core/source_feed.h"
#include "server/grpc/rpc_server.h"
#include "server/metrics/exporter.h"
#include "server/postgres/adapters.h"
#include "server/postgres/facts.h"
#include "server/postgres/verify_target.h"

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
absl::Status DeferredStartupCheck(const config::DatabaseConfig& source,
                                  const config::DatabaseConfig& d,
                                  core::ValidationOptions options) {
  const core::DatabaseFacts dest = pg::GatherFacts(d.params, DestinationLabel(d), true);
  const core::DatabaseFacts src = pg::GatherFacts(source.params, "source", false);
  // The writer lock is the sink's to take when it connects (and to wait for, retrying).
  options.check_writer_lock = false;
  std::vector<std::string> definitive;
  for (const core::Check& c : core::ValidateFacts(src, {dest}, options)) {
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

core::DestinationSetup BuildDestination(const config::Config& config, size_t index,
                                        const std::string& application_name,
                                        const EngineBuild& build, bool deferred_check,
                                        const std::shared_ptr<core::SourceFeed>& feed) {
  const int group_key = !build.fence_former_actives ? 0
                        : build.group_key != 0      ? build.group_key
                                                    : GroupKeyOf(config);
  const core::EngineOptions& options = config.engine;
  ConnParams source = config.source.params;
  source.application_name = application_name;
  const std::string source_what = absl::StrCat("source (", source.Describe(), ")");
  const config::DatabaseConfig& d = config.destinations[index];
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
  s.machine = dest.MachineKey();
  pg::IndexOptions index_options;
  index_options.memory_mb = options.index_build_memory_mb;
  index_options.group_key = group_key;
  s.indexes = [dest, what, index_options] {
    return pg::NewDestinationIndexes(dest, what, index_options);
  };
  if (options.verify_ids_per_second > 0) {
    s.verify_source = [source, source_what] {
      return pg::NewVerifyTarget(source, source_what, /*ts_millis=*/false);
    };
    s.verify_destination = [dest, what] { return pg::NewDestinationVerifyTarget(dest, what); };
  }
  if (!d.seed_from.empty()) {
    for (const config::DatabaseConfig& seed : config.destinations) {
      if (seed.name != d.seed_from) continue;
      ConnParams seed_params = seed.params;
      seed_params.application_name = application_name;
      s.seed_from = seed.name;
      s.seed = pg::NewEventSource(
          seed_params, absl::StrCat("seed ", seed.name, " (", seed_params.Describe(), ")"));
    }
  }
  if (deferred_check) {
    s.startup_check = [source_db = config.source, d, validation = OptionsFor(config, "")] {
      return DeferredStartupCheck(source_db, d, validation);
    };
  }
  return s;
}

std::unique_ptr<core::Engine> BuildEngine(const config::Config& config,
                                          const std::string& application_name,
                                          const EngineBuild& build) {
  ConnParams source = config.source.params;
  source.application_name = application_name;
  const std::string source_what = absl::StrCat("source (", source.Describe(), ")");
  // With several destinations, catch-up reads share one stream of the source while they keep pace
  // (server/core/source_feed.h): up to 4 MB of rows between the fastest and the slowest, or
  // longer than half a second a whole buffer apart; a stream keeps its first rows up to half a
  // second for those that have not joined yet. Destinations added later by a reload read on their
  // own.
  std::shared_ptr<core::SourceFeed> feed;
  if (config.destinations.size() > 1) {
    feed = core::SourceFeed::Create(pg::NewEventSource(source, source_what), size_t{4} << 20,
                                    pg::kSmallReadRows, absl::Milliseconds(500),
                                    /*join_grace=*/absl::Milliseconds(500));
  }
  std::vector<core::DestinationSetup> setups;
  for (size_t i = 0; i < config.destinations.size(); ++i) {
    const bool deferred = i < build.deferred_checks.size() && build.deferred_checks[i];
    setups.push_back(BuildDestination(config, i, application_name, build, deferred, feed));
  }
  return std::make_unique<core::Engine>(config.engine, source.Describe(),
                                        pg::NewWakeupSource(source, source_what),
                                        std::move(setups));
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

Replicator::Replicator(ReplicatorOptions options, const std::vector<bool>& deferred_checks)
    : options_(std::move(options)), group_key_(GroupKeyOf(options_.config)) {
  running_ = options_.config;
  for (size_t i = 0; i < running_.destinations.size(); ++i) {
    const config::DatabaseConfig& d = running_.destinations[i];
    if (i < deferred_checks.size() && deferred_checks[i]) deferred_.insert(d.name);
    if (d.paused) paused_[d.name] = "config";
  }
  paused_view_ = paused_;
  destinations_view_ = running_.destinations;
  ConnParams source = options_.config.source.params;
  source.application_name = options_.instance_name;
  pg::LeaderLockOptions lock;
  lock.group_key = group_key_;
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
  if (options_.reload != nullptr) {
    // SIGHUP: one reload per signal (a signal during start-up reloads once started).
    reload_thread_ = std::thread([this] {
      uint64_t seen = 0;
      while (!options_.stop->requested()) {
        if (!options_.reload->WaitFor(&seen, absl::Seconds(1))) continue;
        (void)Reload();  // logs its outcome
      }
    });
    steps_.Defer("config reloads (SIGHUP)", [this] {
      options_.reload->Close();
      reload_thread_.join();
    });
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
  // After any reload in progress: the engine starts from what runs now.
  absl::MutexLock reload(&reload_mu_);
  EngineBuild build;
  for (const config::DatabaseConfig& d : running_.destinations) {
    build.deferred_checks.push_back(deferred_.count(d.name) > 0);
  }
  build.fence_former_actives = true;
  build.group_key = group_key_;
  std::shared_ptr<core::Engine> engine = BuildEngine(running_, options_.instance_name, build);
  for (const auto& [name, by] : paused_) (void)engine->Pause(name, by);
  if (options_.stop->requested()) engine->RequestStop();
  engine->Start();
  {
    absl::MutexLock lock(&mu_);
    engine_ = engine;
    ++role_version_;
  }
  log::Info(*log::Get("main"), "replicating",
            {{"destinations", static_cast<int64_t>(running_.destinations.size())}});
}

void Replicator::BecomeStandby() {
  std::shared_ptr<core::Engine> engine;
  // On a stop the stopped engine stays, so the status's last word is where each destination
  // stopped (not a standby's empty rows); on a lost lock it goes at once.
  const bool stopping = options_.stop->requested();
  {
    absl::MutexLock lock(&mu_);
    engine = stopping ? engine_ : std::move(engine_);
    if (!stopping) engine_ = nullptr;
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
  absl::MutexLock lock(&mu_);
  for (const config::DatabaseConfig& d : destinations_view_) {
    core::DestinationStatus ds;
    ds.name = d.name;
    ds.dsn = d.params.Describe();
    if (auto p = paused_view_.find(d.name); p != paused_view_.end()) {
      ds.paused = true;
      ds.paused_by = p->second;
    }
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
  absl::MutexLock lock(&mu_);
  s.reloads_applied = reloads_applied_;
  s.reloads_refused = reloads_refused_;
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

namespace {

std::string FailedChecks(const std::vector<core::Check>& checks) {
  std::vector<std::string> lines;
  for (const core::Check& c : checks) {
    if (c.result == core::CheckResult::kFail)
      lines.push_back(absl::StrCat(c.name, ": ", c.message));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace

absl::Status Replicator::AddTo(core::Engine& engine, const config::Config& config, size_t index) {
  const config::DatabaseConfig& d = config.destinations[index];
  EngineBuild build;
  build.fence_former_actives = true;
  build.group_key = group_key_;
  auto paused = paused_.find(d.name);
  return engine.AddDestination(BuildDestination(config, index, options_.instance_name, build,
                                                deferred_.count(d.name) > 0, nullptr),
                               paused == paused_.end() ? "" : paused->second);
}

absl::StatusOr<core::ReloadReport> Replicator::Reload() {
  absl::MutexLock reload(&reload_mu_);
  absl::StatusOr<core::ReloadReport> report = ReloadLocked();
  absl::MutexLock lock(&mu_);
  ++(report.ok() ? reloads_applied_ : reloads_refused_);
  ++role_version_;  // wakes a standby's status watchers too
  return report;
}

absl::StatusOr<core::ReloadReport> Replicator::ReloadLocked() {
  auto log = log::Get("main");
  log::Info(*log, "reloading the config", {{"config", options_.config_path}});
  absl::StatusOr<config::Config> file = config::LoadConfigFile(options_.config_path);
  if (!file.ok()) {
    for (absl::string_view line : absl::StrSplit(file.status().message(), '\n')) {
      log::Error(*log, "reload refused: config error", {{"problem", line}});
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "reload refused, nothing changed (the running config goes on): ", file.status().message()));
  }
  config::ReloadPlan plan = config::PlanReload(running_, *file);
  core::ReloadReport report;
  report.added = plan.added;
  report.removed = plan.removed;
  report.reconnected = plan.reconnected;
  report.unchanged = plan.unchanged;
  report.needs_restart = plan.needs_restart;
  for (const std::string& w : file->warnings) report.warnings.push_back(w);
  // Validated in full, as at a start: definitive failures refuse; a database that does not answer
  // is waited for (an added one runs its checks when it answers).
  const AllFacts facts = GatherAll(plan.next, absl::ZeroDuration());
  report.checks = core::ValidateFacts(facts.source, facts.destinations,
                                      OptionsFor(plan.next, options_.instance_name));
  const core::StartDecision decision =
      core::DecideStart(facts.source, facts.destinations, report.checks);
  if (decision.refuse) {
    LogChecks(report.checks);  // every check, as at a start
    const std::string failed = FailedChecks(report.checks);
    log::Error(*log, "reload refused: check failed; nothing changed", {{"failed", failed}});
    return absl::FailedPreconditionError(absl::StrCat(
        "reload refused, nothing changed (the running config goes on); fix these checks:\n",
        failed));
  }
  const std::set<std::string> fresh(plan.added.begin(), plan.added.end());
  const std::set<std::string> moved(plan.reconnected.begin(), plan.reconnected.end());
  for (size_t i = 0; i < plan.next.destinations.size(); ++i) {
    const std::string& name = plan.next.destinations[i].name;
    if (fresh.count(name) == 0 && moved.count(name) == 0) continue;
    const bool waiting =
        i < decision.destination_deferred.size() && decision.destination_deferred[i];
    if (waiting) {
      deferred_.insert(name);
      report.warnings.push_back(
          absl::StrCat("destination ", name,
                       " did not answer; it is retried and runs its start-up checks then"));
    } else {
      deferred_.erase(name);
    }
  }
  for (const std::string& name : plan.removed) {
    deferred_.erase(name);
    paused_.erase(name);
  }
  for (const config::DatabaseConfig& d : plan.next.destinations) {
    if (fresh.count(d.name) > 0 && d.paused) paused_[d.name] = "config";
  }
  const std::shared_ptr<core::Engine> engine = this->engine();
  for (const auto& [name, paused] : plan.pause_changed) {
    if (paused) {
      paused_[name] = "config (reload)";
    } else {
      paused_.erase(name);
    }
    if (engine == nullptr) continue;
    if (paused) {
      (void)engine->Pause(name, "config (reload)");
    } else {
      (void)engine->Resume(name, "config (reload)");
    }
  }
  if (running_.instance_group.empty() && (!plan.added.empty() || !plan.removed.empty())) {
    report.warnings.push_back(
        "the leader-lock group stays the one derived at start; instances started with this file "
        "derive another one (they would not be standbys of this one): set instanceGroup");
  }
  if (engine != nullptr) {
    for (const std::string& name : plan.removed) RETURN_IF_ERROR(engine->RemoveDestination(name));
    for (size_t i = 0; i < plan.next.destinations.size(); ++i) {
      const std::string& name = plan.next.destinations[i].name;
      if (moved.count(name) > 0) {
        RETURN_IF_ERROR(engine->RemoveDestination(name));
        RETURN_IF_ERROR(AddTo(*engine, plan.next, i));
      } else if (fresh.count(name) > 0) {
        RETURN_IF_ERROR(AddTo(*engine, plan.next, i));
      }
    }
  }
  report.applied = engine != nullptr;
  running_ = std::move(plan.next);
  {
    absl::MutexLock lock(&mu_);
    paused_view_ = paused_;
    destinations_view_ = running_.destinations;
  }
  log::Info(*log, report.applied ? "config reloaded" : "config reloaded; applies when active",
            {{"added", absl::StrJoin(report.added, ",")},
             {"removed", absl::StrJoin(report.removed, ",")},
             {"reconnected", absl::StrJoin(report.reconnected, ",")},
             {"unchanged", absl::StrJoin(report.unchanged, ",")},
             {"needs_restart", absl::StrJoin(report.needs_restart, "; ")}});
  for (const std::string& w : report.warnings) log::Warn(*log, "reload warning", {{"problem", w}});
  return report;
}

absl::Status Replicator::CheckKnown(const std::string& name) const {
  for (const config::DatabaseConfig& d : running_.destinations) {
    if (d.name == name) return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (const config::DatabaseConfig& d : running_.destinations) names.push_back(d.name);
  return absl::NotFoundError(absl::StrCat("no destination named '", name,
                                          "'; the destinations are: ", absl::StrJoin(names, ", ")));
}

absl::Status Replicator::Pause(const std::string& name, const std::string& by, bool* changed) {
  return SetPaused(name, true, by, changed);
}

absl::Status Replicator::Resume(const std::string& name, const std::string& by, bool* changed) {
  return SetPaused(name, false, by, changed);
}

absl::Status Replicator::SetPaused(const std::string& name, bool paused, const std::string& by,
                                   bool* changed) {
  absl::MutexLock reload(&reload_mu_);
  RETURN_IF_ERROR(CheckKnown(name));
  *changed = (paused_.count(name) > 0) != paused;
  if (paused && *changed) paused_[name] = by;
  if (!paused) paused_.erase(name);
  if (const std::shared_ptr<core::Engine> engine = this->engine()) {
    RETURN_IF_ERROR(paused ? engine->Pause(name, by, changed) : engine->Resume(name, by, changed));
  }
  absl::MutexLock lock(&mu_);
  paused_view_ = paused_;
  ++role_version_;
  return absl::OkStatus();
}

absl::Status Replicator::WaitForPosition(int64_t id, std::vector<std::string> names,
                                         absl::Duration timeout, core::PositionWaiters::Done done) {
  const std::shared_ptr<core::Engine> engine = this->engine();
  if (engine == nullptr) {
    const std::string holder = election_->state().holder;
    return absl::UnavailableError(
        absl::StrCat("this instance is a standby and copies nothing; wait on the active instance (",
                     holder.empty() ? "unknown" : holder, ")"));
  }
  return engine->waiters().Wait(id, std::move(names), absl::Now() + timeout, std::move(done));
}

}  // namespace slate
