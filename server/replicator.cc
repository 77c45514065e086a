#include "server/replicator.h"

#include <future>

#include "absl/strings/str_cat.h"

#include "server/postgres/adapters.h"
#include "server/postgres/facts.h"

namespace slate {

std::vector<core::Check> ValidateDatabases(const config::Config& config, absl::Duration lock_wait) {
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
  return core::ValidateFacts(source.get(), dests, options);
}

std::unique_ptr<core::Engine> BuildEngine(const config::Config& config) {
  core::EngineOptions options;
  options.max_events_per_write = config.max_events_per_write;
  options.poll_interval = config.poll_interval;
  options.max_retry_delay = config.max_retry_delay;
  options.skip_holes_after = config.skip_holes_after;
  const std::string source_what = absl::StrCat("source (", config.source.params.Describe(), ")");
  std::vector<core::DestinationSetup> setups;
  for (const config::DatabaseConfig& d : config.destinations) {
    core::DestinationSetup s;
    s.name = d.name;
    s.dsn = d.params.Describe();
    s.source = pg::NewEventSource(config.source.params, source_what);
    s.sink = pg::NewEventSink(d.params, absl::StrCat("destination ", d.name, " (", s.dsn, ")"));
    setups.push_back(std::move(s));
  }
  return std::make_unique<core::Engine>(options, config.source.params.Describe(),
                                        pg::NewWakeupSource(config.source.params, source_what),
                                        std::move(setups));
}

}  // namespace slate
