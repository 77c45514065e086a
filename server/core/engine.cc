#include "server/core/engine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "server/common/log.h"
#include "server/core/seeded_source.h"

namespace slate::core {
namespace {

SourceStatus InitialSource(std::string dsn) {
  SourceStatus s;
  s.dsn = std::move(dsn);
  return s;
}

}  // namespace

Engine::Engine(EngineOptions options, std::string source_dsn, std::unique_ptr<WakeupSource> wakeups,
               std::vector<DestinationSetup> destinations, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      signals_(clock),
      board_(clock, signals_, InitialSource(std::move(source_dsn))),
      watchdog_(clock, options_.stall_timeout),
      waiters_(clock),
      listener_(options_, std::move(wakeups), signals_, board_) {
  signals_.set_on_change([this] { board_.Touch(); });
  for (DestinationSetup& setup : destinations) {
    // Names are distinct (the config says so); a duplicate here is a programming error.
    absl::Status added = AddDestination(std::move(setup));
    if (!added.ok()) log::Error(*log::Get("engine"), std::string(added.message()));
  }
  listener_activity_ = &watchdog_.Watch("listener", [this] { listener_.Interrupt(); });
}

Engine::~Engine() {
  RequestStop();
  Join();
}

Engine::Lane* Engine::FindLocked(const std::string& name) const {
  for (const std::unique_ptr<Lane>& lane : lanes_) {
    if (lane->setup.name == name) return lane.get();
  }
  return nullptr;
}

void Engine::Start() {
  // LISTEN before the first passes, so nothing committed in between waits for the poll. If the
  // source is down, the listener retries and wakes every destination once it is up.
  const bool listening = listener_.Connect();
  listener_thread_ =
      std::thread([this, listening] { listener_.Run(listening, *listener_activity_); });
  {
    absl::MutexLock lock(&mu_);
    started_ = true;
    for (auto& lane : lanes_) StartLane(*lane);
  }
  watchdog_.Start();
}

void Engine::StartLane(Lane& lane) {
  lane.thread = std::thread([l = lane.loop.get()] { l->Run(); });
  if (lane.verifier) lane.verify_thread = std::thread([v = lane.verifier.get()] { v->Run(); });
}

void Engine::JoinLane(Lane& lane) {
  if (lane.verifier) lane.verifier->Interrupt();
  if (lane.thread.joinable()) lane.thread.join();
  if (lane.verify_thread.joinable()) lane.verify_thread.join();
}

absl::Status Engine::AddDestination(DestinationSetup setup, const std::string& paused_by) {
  absl::MutexLock change(&change_mu_);
  auto lane = std::make_unique<Lane>();
  {
    absl::MutexLock lock(&mu_);
    if (FindLocked(setup.name) != nullptr) {
      return absl::AlreadyExistsError(
          absl::StrCat("a destination named ", setup.name, " is already replicating"));
    }
  }
  lane->id = signals_.AddLane(!paused_by.empty(), paused_by);
  lane->setup = std::move(setup);
  if (!lane->setup.seed_from.empty() && lane->setup.seed != nullptr) {
    SeedOptions seed;
    seed.destination = lane->setup.name;
    seed.seed = lane->setup.seed_from;
    seed.proven = [this, name = lane->setup.seed_from] { return proven_.Get(name); };
    seed.on_seed_rows = [this, id = lane->id](int64_t rows) {
      board_.UpdateDestination(id, [rows](DestinationStatus& d) { d.seed_rows += rows; });
    };
    lane->setup.source = NewSeededSource(std::move(lane->setup.source), std::move(lane->setup.seed),
                                         std::move(seed));
  }
  DestinationStatus initial;
  initial.name = lane->setup.name;
  initial.dsn = lane->setup.dsn;
  initial.seed_from = lane->setup.seed_from;
  initial.state_since = clock_.Now();
  // Shown (and exported) from the start, before the verifier's first report.
  const bool verified = options_.verify_ids_per_second > 0 && lane->setup.verify_source &&
                        lane->setup.verify_destination;
  initial.verify_enabled = verified;
  board_.AddDestination(lane->id, std::move(initial));
  ShowPause(lane->id);
  waiters_.Add(lane->setup.name);
  lane->report = std::make_unique<DestinationReport>(board_, lane->id, lane->setup.name, clock_);
  Lane* raw = lane.get();
  lane->activity = &watchdog_.Watch(lane->setup.name, [raw] { raw->loop->Interrupt(); });
  lane->loop =
      std::make_unique<DestinationLoop>(options_, lane->setup, signals_, lane->id, *lane->report,
                                        *lane->activity, &waiters_, shares_);
  if (verified) {
    lane->verifier = std::make_unique<ContinuousVerifier>(
        options_, lane->setup.name, lane->setup.verify_source, lane->setup.verify_destination,
        signals_, lane->id, board_, waiters_, proven_);
  }
  absl::MutexLock lock(&mu_);
  if (started_) StartLane(*lane);
  lanes_.push_back(std::move(lane));
  return absl::OkStatus();
}

absl::Status Engine::RemoveDestination(const std::string& name) {
  absl::MutexLock change(&change_mu_);
  Lane* lane = nullptr;
  {
    absl::MutexLock lock(&mu_);
    lane = FindLocked(name);
    if (lane == nullptr) {
      return absl::NotFoundError(absl::StrCat("no destination named ", name, " is replicating"));
    }
  }
  signals_.EndLane(lane->id);
  JoinLane(*lane);
  watchdog_.Unwatch(*lane->activity);
  waiters_.Remove(name);
  proven_.Remove(name);
  board_.RemoveDestination(lane->id);
  signals_.DropLane(lane->id);
  std::unique_ptr<Lane> gone;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = lanes_.begin(); it != lanes_.end(); ++it) {
      if (it->get() == lane) {
        gone = std::move(*it);
        lanes_.erase(it);
        break;
      }
    }
  }
  log::Info(*log::Get("engine"), "destination removed", {{"destination", name}});
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Engine::LaneId(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  if (const Lane* lane = FindLocked(name)) return lane->id;
  std::vector<std::string> names;
  for (const auto& l : lanes_) names.push_back(l->setup.name);
  return absl::NotFoundError(absl::StrCat("no destination named ", name,
                                          "; the destinations are: ", absl::StrJoin(names, ", ")));
}

absl::Status Engine::Pause(const std::string& name, const std::string& by, bool* changed) {
  return SetPaused(name, true, by, changed);
}

absl::Status Engine::Resume(const std::string& name, const std::string& by, bool* changed) {
  return SetPaused(name, false, by, changed);
}

absl::Status Engine::SetPaused(const std::string& name, bool paused, const std::string& by,
                               bool* changed) {
  absl::StatusOr<uint64_t> id = LaneId(name);
  if (!id.ok()) return id.status();
  const bool did = signals_.SetPaused(*id, paused, by);
  if (changed != nullptr) *changed = did;
  ShowPause(*id);
  if (did) {
    log::Info(*log::Get("engine"), paused ? "pause requested" : "resume requested",
              {{"destination", name}, {"by", by}});
  }
  return absl::OkStatus();
}

// The board's pause fields are written here only, from the lane, so they show at once whatever
// the loop is doing (a destination retrying shows its pause too).
void Engine::ShowPause(uint64_t id) {
  const LaneControl control = signals_.Lane(id);
  board_.UpdateDestination(id, [&](DestinationStatus& d) {
    d.paused = control.paused;
    d.paused_since = control.paused_since;
    d.paused_by = control.paused_by;
  });
}

std::vector<std::string> Engine::DestinationNames() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& lane : lanes_) names.push_back(lane->setup.name);
  return names;
}

void Engine::RequestStop() {
  if (!signals_.stopping()) log::Info(*log::Get("engine"), "stop requested");
  signals_.RequestStop();
}

void Engine::Join() {
  absl::MutexLock change(&change_mu_);
  if (listener_thread_.joinable()) listener_thread_.join();
  // Lanes are neither added nor removed meanwhile (change_mu_), so they outlive the joins.
  std::vector<Lane*> lanes;
  {
    absl::MutexLock lock(&mu_);
    for (auto& lane : lanes_) lanes.push_back(lane.get());
  }
  for (Lane* lane : lanes) JoinLane(*lane);
  waiters_.Shutdown();
  // The watchdog outlives the others, so a thread stuck in a call during a stop is freed too.
  watchdog_.Stop();
}

}  // namespace slate::core
