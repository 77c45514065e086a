#include "server/core/engine.h"

#include "server/common/log.h"

namespace slate::core {
namespace {

std::vector<DestinationStatus> InitialStatuses(const std::vector<DestinationSetup>& setups,
                                               absl::Time now) {
  std::vector<DestinationStatus> out;
  for (const DestinationSetup& s : setups) {
    DestinationStatus d;
    d.name = s.name;
    d.dsn = s.dsn;
    d.state_since = now;
    out.push_back(std::move(d));
  }
  return out;
}

SourceStatus InitialSource(std::string dsn) {
  SourceStatus s;
  s.dsn = std::move(dsn);
  return s;
}

}  // namespace

Engine::Engine(EngineOptions options, std::string source_dsn, std::unique_ptr<WakeupSource> wakeups,
               std::vector<DestinationSetup> destinations, const Clock& clock)
    : options_(std::move(options)),
      destinations_(std::move(destinations)),
      signals_(clock),
      board_(clock, signals_, InitialSource(std::move(source_dsn)),
             InitialStatuses(destinations_, clock.Now())),
      watchdog_(clock, options_.stall_timeout),
      listener_(options_, std::move(wakeups), signals_, board_) {
  signals_.set_on_change([this] { board_.Touch(); });
  for (size_t i = 0; i < destinations_.size(); ++i) {
    reports_.push_back(
        std::make_unique<DestinationReport>(board_, i, destinations_[i].name, clock));
    Activity& activity =
        watchdog_.Watch(destinations_[i].name, [this, i] { loops_[i]->Interrupt(); });
    loops_.push_back(std::make_unique<DestinationLoop>(options_, destinations_[i], signals_,
                                                       *reports_.back(), activity));
  }
  listener_activity_ = &watchdog_.Watch("listener", [this] { listener_.Interrupt(); });
}

Engine::~Engine() {
  RequestStop();
  Join();
}

void Engine::Start() {
  // LISTEN before the first passes, so nothing committed in between waits for the poll. If the
  // source is down, the listener retries and wakes every destination once it is up.
  const bool listening = listener_.Connect();
  threads_.emplace_back([this, listening] { listener_.Run(listening, *listener_activity_); });
  for (auto& loop : loops_) {
    threads_.emplace_back([l = loop.get()] { l->Run(); });
  }
  watchdog_.Start();
}

void Engine::RequestStop() {
  if (!signals_.stopping()) log::Info(*log::Get("engine"), "stop requested");
  signals_.RequestStop();
}

void Engine::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // The watchdog outlives the others, so a thread stuck in a call during a stop is freed too.
  watchdog_.Stop();
}

}  // namespace slate::core
