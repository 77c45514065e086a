#include "server/replicator.h"

#include <unistd.h>

#include <future>

#include "absl/strings/str_cat.h"

#include "server/common/version.h"
#include "server/core/source_feed.h"
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

std::vector<core::Check> ValidateDatabases(const config::Config& config, absl::Duration lock_wait,
                                           const std::string& own_application_name) {
  // Every database at once: start-up takes as long as the slowest, not the sum.
  auto source = std::async(std::launch::async,
                           [&] { return pg::GatherFacts(config.source.params, "source", false); });
  std::vector<std::future<core::DatabaseFacts>> pending;
  for (const config::DatabaseConfig& d : config.destinations) {
    pending.push_back(std::async(std::launch::async, [&d, lock_wait] {
      return pg::GatherFacts(d.params, absl::StrCat("destination ", d.name), true, lock_wait);
    }));
  }
  std::vector<core::DatabaseFacts> dests;
  for (auto& f : pending) dests.push_back(f.get());
  core::ValidationOptions options;
  options.allow_holes = config.skip_holes_after > absl::ZeroDuration();
  options.own_application_name = own_application_name;
  return core::ValidateFacts(source.get(), dests, options);
}

std::unique_ptr<core::Engine> BuildEngine(const config::Config& config,
                                          const std::string& application_name) {
  core::EngineOptions options;
  options.max_events_per_write = config.max_events_per_write;
  options.poll_interval = config.poll_interval;
  options.max_retry_delay = config.max_retry_delay;
  options.skip_holes_after = config.skip_holes_after;
  options.stall_timeout = config.stall_timeout;
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
  for (const config::DatabaseConfig& d : config.destinations) {
    ConnParams dest = d.params;
    dest.application_name = application_name;
    core::DestinationSetup s;
    s.name = d.name;
    s.dsn = dest.Describe();
    s.source = pg::NewEventSource(source, source_what);
    if (feed != nullptr) s.source = feed->NewSharedSource(std::move(s.source));
    const std::string what = absl::StrCat("destination ", d.name, " (", s.dsn, ")");
    pg::SinkOptions sink_options;
    sink_options.synchronous_commit = config.synchronous_commit;
    s.sink = pg::NewEventSink(dest, what, sink_options);
    sink_options.take_writer_lock = false;
    for (int i = 1; i < config.parallel_writes; ++i) {
      s.helpers.push_back(pg::NewEventSink(dest, what, sink_options));
    }
    setups.push_back(std::move(s));
  }
  return std::make_unique<core::Engine>(
      options, source.Describe(), pg::NewWakeupSource(source, source_what), std::move(setups));
}

std::vector<std::string> ParameterLines(const config::Config& config) {
  std::vector<std::string> out;
  for (const auto& [name, value] : config::DescribeConfig(config)) {
    out.push_back(absl::StrCat(name, ": ", value));
  }
  return out;
}

Replicator::Replicator(config::Config config, std::string instance_name)
    : config_(std::move(config)),
      instance_name_(std::move(instance_name)),
      engine_(BuildEngine(config_, instance_name_)) {}

absl::Time Replicator::stop_deadline() const {
  absl::MutexLock lock(&mu_);
  return stop_deadline_;
}

core::ServerInfo Replicator::Info() const {
  core::ServerInfo info;
  info.version = kVersion;
  info.build = absl::StrCat("g++ ", __VERSION__, ", C++", __cplusplus / 100 % 100);
  info.pid = getpid();
  return info;
}

core::EngineStatus Replicator::Status() const { return engine_->Snapshot(); }

void Replicator::AwaitChange(uint64_t* version, absl::Duration timeout) const {
  engine_->board().AwaitChange(version, timeout);
}

absl::StatusOr<core::ValidationReport> Replicator::Validate(const std::string& config_json) {
  core::ValidationReport report;
  if (config_json.empty()) {
    report.checks = ValidateDatabases(config_, absl::ZeroDuration(), instance_name_);
    report.parameters = ParameterLines(config_);
    return report;
  }
  auto other = config::ParseConfig(config_json, config::DefaultSecretLookup());
  if (!other.ok()) return other.status();
  report.checks = ValidateDatabases(*other, absl::ZeroDuration(), instance_name_);
  report.parameters = ParameterLines(*other);
  return report;
}

void Replicator::Stop(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (deadline > absl::ZeroDuration()) {
      stop_deadline_ = std::min(stop_deadline_, absl::Now() + deadline);
    }
  }
  engine_->RequestStop();
}

}  // namespace slate
