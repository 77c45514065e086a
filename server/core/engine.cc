#include "server/core/engine.h"

#include <algorithm>
#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#include "server/common/log.h"
#include "server/core/backoff.h"
#include "server/core/copy_pass.h"
#include "server/core/notification.h"
#include "server/core/validation.h"

namespace slate::core {
namespace {

std::vector<DestinationStatus> InitialStatuses(const std::vector<DestinationSetup>& setups) {
  std::vector<DestinationStatus> out;
  for (const DestinationSetup& s : setups) {
    DestinationStatus d;
    d.name = s.name;
    d.dsn = s.dsn;
    d.state_since = absl::Now();
    out.push_back(std::move(d));
  }
  return out;
}

SourceStatus InitialSource(std::string dsn) {
  SourceStatus s;
  s.dsn = std::move(dsn);
  return s;
}

// Marks a thread busy in database calls for the watchdog, for one scope.
class Busy {
 public:
  explicit Busy(Activity& a) : a_(a) {
    a_.ticks.fetch_add(1, std::memory_order_relaxed);
    a_.busy.store(true);
  }
  ~Busy() {
    a_.busy.store(false);
    a_.ticks.fetch_add(1, std::memory_order_relaxed);
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  Activity& a_;
};

// One destination's loop state, and the observer its passes report to.
class Worker : public PassObserver {
 public:
  Worker(const EngineOptions& options, DestinationSetup& setup, StatusBoard& board, size_t index,
         Activity& activity)
      : options_(options),
        setup_(setup),
        board_(board),
        index_(index),
        activity_(activity),
        log_(log::Get("engine")),
        backoff_(options.initial_retry_delay, options.max_retry_delay) {
    sinks_.push_back(setup_.sink.get());
    for (auto& helper : setup_.helpers) sinks_.push_back(helper.get());
  }

  void Run() {
    uint64_t seen = 0;
    while (!board_.stopping()) {
      if (!connected_) {
        Busy busy(activity_);
        if (!Connect()) continue;
      }
      // Wake-ups before this point are served by this pass: it sees everything they announce.
      seen = board_.wake_generation();
      absl::StatusOr<PassResult> pass;
      {
        Busy busy(activity_);
        pass = Pass();
      }
      if (!pass.ok()) {
        if (!HandleError(pass.status())) return;  // failed for good
        continue;
      }
      backoff_.Reset();
      if (pass->end != PassEnd::kStopped) {
        board_.UpdateDestination(index_, [](DestinationStatus& d) {
          d.retries = 0;
          d.last_heartbeat = absl::Now();
        });
      }
      if (pass->end == PassEnd::kStopped) break;
      absl::Duration wait = options_.poll_interval;
      if (pass->end == PassEnd::kHole) {
        if (OnHole(*pass)) continue;  // run the next pass at once
        if (options_.skip_holes_after > absl::ZeroDuration()) {
          // Come back when the hole is due to be skipped, if that is sooner than the poll.
          wait = std::min(wait, hole_since_ + options_.skip_holes_after - absl::Now());
        }
      } else {
        bounded_up_to_ = 0;
        skip_hole_to_ = 0;
        if (hole_at_ != 0) {
          log::Info(*log_, "hole filled", {{"destination", setup_.name}, {"id", hole_at_}});
          hole_at_ = 0;
        }
        SetState(DestinationState::kInSync, [](DestinationStatus& d) {
          d.hole_at = 0;
          d.oldest_missing = absl::InfinitePast();
        });
      }
      // Coalescing: however many notifications arrived during the pass, one more pass follows.
      if (!board_.WaitForWakeup(&seen, wait)) break;
    }
    Disconnect();
    SetState(DestinationState::kStopped, [](DestinationStatus&) {});
    log::Info(*log_, "destination stopped",
              {{"destination", setup_.name}, {"position", position_}});
  }

  // PassObserver
  bool StopRequested() override { return board_.stopping(); }
  void OnRow() override { activity_.ticks.fetch_add(1, std::memory_order_relaxed); }
  void OnBatchStart(int64_t first_ts) override {
    uncommitted_starts_.push_back(first_ts);
    if (++batches_this_pass_ == 2 && !catching_up_) StartCatchingUp(pass_start_);
    if (uncommitted_starts_.size() == 1) {
      board_.UpdateDestination(
          index_, [&](DestinationStatus& d) { d.oldest_missing = EventTime(first_ts); });
    }
  }
  void OnBatchesAbandoned() override { uncommitted_starts_.clear(); }
  void OnBatchCommitted(int64_t position, int64_t events, int64_t bytes) override {
    if (!uncommitted_starts_.empty()) uncommitted_starts_.pop_front();
    const int64_t next_oldest = uncommitted_starts_.empty() ? 0 : uncommitted_starts_.front();
    position_ = position;
    events_copied_ += events;
    activity_.ticks.fetch_add(1, std::memory_order_relaxed);
    const absl::Time now = absl::Now();
    int64_t total = 0;
    board_.UpdateDestination(index_, [&](DestinationStatus& d) {
      d.position = position;
      if (next_oldest != 0) d.oldest_missing = EventTime(next_oldest);
      d.events_total += events;
      d.bytes_total += bytes;
      ++d.batches_total;
      d.last_batch_time = now;
      d.last_heartbeat = now;
      total = d.events_total;
    });
    board_.NoteBatch(index_, now, total);
    board_.NoteSourceMax(position);
    log::Debug(*log_, "batch committed",
               {{"destination", setup_.name},
                {"position", position},
                {"events", events},
                {"bytes", bytes}});
    MaybeLogProgress(now);
  }

 private:
  bool Connect() {
    SetState(DestinationState::kConnecting, [](DestinationStatus&) {});
    absl::Status s = setup_.sink->Connect();
    for (auto& helper : setup_.helpers) {
      if (s.ok()) s = helper->Connect();
    }
    if (s.ok()) s = setup_.source->Connect();
    absl::StatusOr<int64_t> position = s.ok() ? setup_.sink->Position() : s;
    if (!position.ok()) {
      HandleError(position.status());
      return false;
    }
    if (absl::Status same = CheckSameHistory(); !same.ok()) {
      HandleError(same);
      return false;
    }
    connected_ = true;
    head_known_ = false;
    position_ = *position;
    board_.UpdateDestination(index_, [&](DestinationStatus& d) { d.position = position_; });
    log::Info(*log_, "destination connected",
              {{"destination", setup_.name}, {"dsn", setup_.dsn}, {"position", position_}});
    return true;
  }

  // After every (re)connect: the destination must still be a copy of this source.
  absl::Status CheckSameHistory() {
    auto dest = setup_.sink->First();
    if (!dest.ok()) return dest.status();
    if (!dest->has_value()) return absl::OkStatus();
    auto source = setup_.source->First();
    if (!source.ok()) return source.status();
    const std::string who = absl::StrCat("destination ", setup_.name);
    if (!source->has_value()) {
      return absl::DataLossError(absl::StrCat(who,
                                              " has events but the source is empty: wrong "
                                              "source, or restore it with restore_events"));
    }
    const Check check = CompareFirstEvents(**source, **dest, who);
    if (check.result == CheckResult::kFail) return absl::DataLossError(check.message);
    return absl::OkStatus();
  }

  void Disconnect() {
    for (auto& helper : setup_.helpers) {
      helper->AbortBatch();
      helper->Close();
    }
    setup_.sink->AbortBatch();
    setup_.sink->Close();
    setup_.source->Close();
    connected_ = false;
  }

  absl::StatusOr<PassResult> Pass() {
    pass_start_ = absl::Now();
    batches_this_pass_ = 0;
    uncommitted_starts_.clear();
    board_.UpdateSource([](SourceStatus& s) { ++s.passes_total; });
    // The source's head costs a round trip: skip it when a notification already told of ids past
    // this destination (the common case when following live writes); the pass itself reads
    // everything up to the head and reports it.
    const bool need_head = !head_known_ || board_.SourceMaxId() <= position_;
    if (need_head) {
      absl::StatusOr<SourceHead> head = setup_.source->Head();
      if (!head.ok()) return head.status();
      head_known_ = true;
      board_.NoteSourceHead(head->max_id, head->newest_event_time);
      if (head->max_id < position_) {
        return absl::DataLossError(absl::StrCat(
            "destination is ahead of the source: its position is ", position_,
            " but the source's highest id is ", head->max_id,
            "; it belongs to another source, or the source was rebuilt without restore_events. "
            "Point it at the right source or re-create it with slatectl init-db"));
      }
      if (head->max_id - position_ > options_.max_events_per_write && !catching_up_) {
        StartCatchingUp(pass_start_);
      }
    }
    PassOptions options;
    options.max_events_per_write = options_.max_events_per_write;
    options.up_to_id = bounded_up_to_;
    options.skip_hole_to = skip_hole_to_;
    options.expected_rows = std::max<int64_t>(0, board_.SourceMaxId() - position_);
    const int64_t position_before = position_;
    absl::StatusOr<PassResult> result =
        RunCopyPass(*setup_.source, sinks_, position_, options, *this);
    if (result.ok() && result->end != PassEnd::kStopped && position_ == position_before) {
      // Nothing was written: make sure the destination is still there before this pass counts
      // as a heartbeat.
      if (absl::Status alive = setup_.sink->Ping(); !alive.ok()) return alive;
    }
    if (result.ok() && result->end == PassEnd::kCaughtUp && bounded_up_to_ == 0 &&
        result->position_ts != 0) {
      // Read to the end of the source's snapshot: its last row was the head.
      board_.NoteSourceHead(result->position, EventTime(result->position_ts));
    }
    if (result.ok() && result->end == PassEnd::kCaughtUp && catching_up_ && bounded_up_to_ == 0) {
      catching_up_ = false;
      const double secs = absl::ToDoubleSeconds(absl::Now() - catch_up_start_);
      const int64_t copied = events_copied_ - catch_up_start_events_;
      if (copied > 0) {
        log::Info(*log_, "caught up",
                  {{"destination", setup_.name},
                   {"position", position_},
                   {"events", copied},
                   {"seconds", secs},
                   {"events_per_second", secs > 0 ? static_cast<double>(copied) / secs : 0.0}});
      }
    }
    return result;
  }

  void StartCatchingUp(absl::Time since) {
    catching_up_ = true;
    catch_up_start_ = since;
    catch_up_start_events_ = events_copied_;
    last_progress_log_ = since;
    SetState(DestinationState::kCatchingUp, [](DestinationStatus&) {});
  }

  // Returns true when the next pass should run at once.
  bool OnHole(const PassResult& pass) {
    if (pass.bounded_retry_up_to > position_) {
      bounded_up_to_ = pass.bounded_retry_up_to;
      return true;
    }
    bounded_up_to_ = 0;
    const absl::Time now = absl::Now();
    if (hole_at_ != pass.hole_first_missing) {
      hole_at_ = pass.hole_first_missing;
      hole_since_ = now;
      log::Warn(*log_, "waiting at a hole: the source lacks an id while later ids exist",
                {{"destination", setup_.name},
                 {"missing_id", pass.hole_first_missing},
                 {"next_present_id", pass.hole_next_present},
                 {"fix",
                  "an insert bypassed insert_events or is not committed yet; it is held "
                  "until the id appears (skipHolesAfter opts in to passing it)"}});
    }
    SetState(DestinationState::kWaitingAtHole, [&](DestinationStatus& d) {
      d.hole_at = hole_at_;
      d.hole_since = hole_since_;
    });
    if (options_.skip_holes_after > absl::ZeroDuration() &&
        now - hole_since_ >= options_.skip_holes_after) {
      log::Error(*log_, "skipping a hole (skipHolesAfter): these ids will be missing here",
                 {{"destination", setup_.name},
                  {"first_missing_id", pass.hole_first_missing},
                  {"last_missing_id", pass.hole_next_present - 1}});
      skip_hole_to_ = pass.hole_next_present;
      hole_at_ = 0;
      return true;
    }
    return false;
  }

  // Returns false when the destination has failed for good.
  bool HandleError(const absl::Status& status) {
    Disconnect();
    board_.UpdateDestination(index_, [&](DestinationStatus& d) {
      ++d.errors_by_kind[absl::AsciiStrToLower(absl::StatusCodeToString(status.code()))];
    });
    catching_up_ = false;
    const absl::Time now = absl::Now();
    if (status.code() == absl::StatusCode::kDataLoss) {
      log::Error(*log_, "destination failed; the others go on",
                 {{"destination", setup_.name}, {"error", log::StatusText(status)}});
      SetState(DestinationState::kFailed, [&](DestinationStatus& d) {
        d.last_error = log::StatusText(status);
        d.last_error_time = now;
      });
      return false;
    }
    const absl::Duration delay = backoff_.Next();
    log::Warn(*log_, "destination error; retrying",
              {{"destination", setup_.name},
               {"error", log::StatusText(status)},
               {"attempt", backoff_.attempts()},
               {"retry_in_seconds", absl::ToDoubleSeconds(delay)}});
    SetState(DestinationState::kRetrying, [&](DestinationStatus& d) {
      d.last_error = log::StatusText(status);
      d.last_error_time = now;
      ++d.retries;
      ++d.retries_total;
      d.next_retry = now + delay;
    });
    board_.SleepUnlessStopped(delay);
    return true;
  }

  void MaybeLogProgress(absl::Time now) {
    if (!catching_up_ || now - last_progress_log_ < options_.progress_interval) return;
    last_progress_log_ = now;
    const EngineStatus snap = board_.Snapshot(now);
    const DestinationStatus& d = snap.destinations[index_];
    const double rate = d.events_per_second;
    log::Info(*log_, "catching up",
              {{"destination", setup_.name},
               {"position", d.position},
               {"events_remaining", d.lag_events},
               {"events_per_second", rate},
               {"eta_seconds", rate > 0 ? static_cast<double>(d.lag_events) / rate : -1.0}});
  }

  void SetState(DestinationState state, const std::function<void(DestinationStatus&)>& more) {
    DestinationState old = DestinationState::kStarting;
    board_.UpdateDestination(index_, [&](DestinationStatus& d) {
      old = d.state;
      if (d.state != state) d.state_since = absl::Now();
      d.state = state;
      more(d);
    });
    if (old != state) {
      log::Info(*log_, "destination state",
                {{"destination", setup_.name},
                 {"from", StateName(old)},
                 {"to", StateName(state)},
                 {"position", position_}});
    }
  }

  const EngineOptions& options_;
  DestinationSetup& setup_;
  StatusBoard& board_;
  const size_t index_;
  Activity& activity_;
  std::shared_ptr<spdlog::logger> log_;
  Backoff backoff_;
  bool connected_ = false;
  int64_t position_ = 0;
  int64_t bounded_up_to_ = 0;
  int64_t skip_hole_to_ = 0;
  int64_t hole_at_ = 0;
  absl::Time hole_since_;
  std::vector<EventSink*> sinks_;
  bool head_known_ = false;  // a Head() since the last connect
  absl::Time pass_start_;
  int batches_this_pass_ = 0;
  std::deque<int64_t> uncommitted_starts_;  // first ts of each batch started, not committed
  bool catching_up_ = false;
  absl::Time catch_up_start_;
  int64_t catch_up_start_events_ = 0;
  int64_t events_copied_ = 0;  // by this worker since it started
  absl::Time last_progress_log_;
};

}  // namespace

Engine::Engine(EngineOptions options, std::string source_dsn, std::unique_ptr<WakeupSource> wakeups,
               std::vector<DestinationSetup> destinations)
    : options_(options),
      wakeups_(std::move(wakeups)),
      destinations_(std::move(destinations)),
      board_(InitialSource(std::move(source_dsn)), InitialStatuses(destinations_)) {
  for (size_t i = 0; i <= destinations_.size(); ++i) {
    activities_.push_back(std::make_unique<Activity>());
  }
}

Engine::~Engine() {
  RequestStop();
  Join();
}

void Engine::Start() {
  // LISTEN before the first passes, so nothing committed in between waits for the poll. If the
  // source is down, the listener thread retries and wakes every destination once it is up.
  const bool listening = ConnectListener();
  threads_.emplace_back([this, listening] { ListenLoop(listening); });
  for (size_t i = 0; i < destinations_.size(); ++i) {
    threads_.emplace_back([this, i] { WorkerLoop(i); });
  }
  if (options_.stall_timeout > absl::ZeroDuration()) {
    watchdog_ = std::thread([this] { WatchdogLoop(); });
  }
}

void Engine::WatchdogLoop() {
  auto log = log::Get("engine");
  const absl::Duration tick = std::min(absl::Seconds(1), options_.stall_timeout / 4);
  std::vector<uint64_t> last_ticks(activities_.size(), 0);
  std::vector<absl::Time> last_change(activities_.size(), absl::Now());
  while (!threads_done_.WaitForNotificationWithTimeout(tick)) {
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < activities_.size(); ++i) {
      const uint64_t ticks = activities_[i]->ticks.load();
      if (!activities_[i]->busy.load() || ticks != last_ticks[i]) {
        last_ticks[i] = ticks;
        last_change[i] = now;
        continue;
      }
      if (now - last_change[i] < options_.stall_timeout) continue;
      last_change[i] = now;  // once per stall timeout
      const bool listener = i == destinations_.size();
      log::Warn(*log, "no progress inside a database call; interrupting its connections",
                {{"thread", listener ? std::string("listener") : destinations_[i].name},
                 {"stalled_seconds", absl::ToDoubleSeconds(options_.stall_timeout)}});
      if (listener) {
        wakeups_->Interrupt();
      } else {
        destinations_[i].sink->Interrupt();
        for (auto& helper : destinations_[i].helpers) helper->Interrupt();
        destinations_[i].source->Interrupt();
      }
    }
  }
}

void Engine::RequestStop() {
  if (!board_.stopping()) log::Info(*log::Get("engine"), "stop requested");
  board_.RequestStop();
}

void Engine::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // The watchdog outlives the others, so a thread stuck in a call during a stop is freed too.
  if (!threads_done_.HasBeenNotified()) threads_done_.Notify();
  if (watchdog_.joinable()) watchdog_.join();
}

bool Engine::AllDestinationsEnded() const {
  const EngineStatus s = board_.Snapshot();
  return std::all_of(s.destinations.begin(), s.destinations.end(), [](const auto& d) {
    return d.state == DestinationState::kFailed || d.state == DestinationState::kStopped;
  });
}

void Engine::WorkerLoop(size_t index) {
  Worker worker(options_, destinations_[index], board_, index, *activities_[index]);
  worker.Run();
}

bool Engine::ConnectListener() {
  auto log = log::Get("engine");
  if (absl::Status s = wakeups_->Connect(); !s.ok()) {
    log::Warn(*log, "cannot listen on the source", {{"error", log::StatusText(s)}});
    board_.UpdateSource([&](SourceStatus& src) {
      src.listening = false;
      src.last_error = log::StatusText(s);
      src.last_error_time = absl::Now();
    });
    return false;
  }
  board_.UpdateSource([](SourceStatus& src) { src.listening = true; });
  log::Info(*log, "listening for notifications", {{"channel", "eventsinsert"}});
  return true;
}

void Engine::ListenLoop(bool connected) {
  auto log = log::Get("engine");
  Backoff backoff(options_.initial_retry_delay, options_.max_retry_delay);
  Activity& activity = *activities_.back();
  absl::Time last_ping = absl::Now();
  while (!board_.stopping()) {
    if (!connected) {
      if (!board_.SleepUnlessStopped(backoff.Next())) break;
      Busy busy(activity);
      if (!ConnectListener()) continue;
      connected = true;
      backoff.Reset();
      board_.Notify();  // a full pass after every reconnect: nothing missed while away
    }
    absl::StatusOr<std::vector<std::string>> payloads = std::vector<std::string>{};
    if (absl::Now() - last_ping >= options_.listen_ping_interval) {
      last_ping = absl::Now();
      Busy busy(activity);
      if (absl::Status s = wakeups_->Ping(); !s.ok()) payloads = s;
    }
    if (payloads.ok()) payloads = wakeups_->Wait(options_.listen_wait);
    if (!payloads.ok()) {
      log::Warn(*log, "lost the notification connection; reconnecting",
                {{"error", log::StatusText(payloads.status())}});
      wakeups_->Close();
      connected = false;
      board_.UpdateSource([&](SourceStatus& src) {
        src.listening = false;
        src.last_error = log::StatusText(payloads.status());
        src.last_error_time = absl::Now();
      });
      continue;
    }
    if (payloads->empty()) continue;
    int64_t max_id = 0;
    int64_t malformed = 0;
    std::string example;
    std::string problem;
    for (const std::string& p : *payloads) {
      const Payload parsed = ParsePayload(p);
      if (parsed.ok) {
        max_id = std::max(max_id, parsed.id);
      } else if (malformed++ == 0) {
        example = p.substr(0, 200);
        problem = parsed.problem;
      }
    }
    if (malformed > 0) {
      log::Warn(*log, "ignoring notification payloads that are not slate's (still a wake-up)",
                {{"count", malformed}, {"problem", problem}, {"example", example}});
    }
    const int64_t n = static_cast<int64_t>(payloads->size());
    board_.UpdateSource([&](SourceStatus& src) {
      src.notifications_total += n;
      src.malformed_notifications_total += malformed;
    });
    if (max_id > 0) board_.NoteSourceMax(max_id);
    board_.Notify();
  }
  wakeups_->Close();
  board_.UpdateSource([](SourceStatus& src) { src.listening = false; });
}

}  // namespace slate::core
