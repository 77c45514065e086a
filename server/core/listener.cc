#include "server/core/listener.h"

#include <algorithm>

#include "server/common/log.h"
#include "server/core/backoff.h"
#include "server/core/notification.h"

namespace slate::core {

Listener::Listener(const EngineOptions& options, std::unique_ptr<WakeupSource> wakeups,
                   Signals& signals, StatusBoard& board)
    : options_(options), wakeups_(std::move(wakeups)), signals_(signals), board_(board) {}

bool Listener::Connect() {
  auto log = log::Get("engine");
  if (absl::Status s = wakeups_->Connect(); !s.ok()) {
    log::Warn(*log, "cannot listen on the source", {{"error", log::StatusText(s)}});
    const absl::Time now = signals_.clock().Now();
    board_.UpdateSource([&](SourceStatus& src) {
      src.listening = false;
      src.last_error = log::StatusText(s);
      src.last_error_time = now;
    });
    return false;
  }
  board_.UpdateSource([](SourceStatus& src) { src.listening = true; });
  log::Info(*log, "listening for notifications", {{"channel", "eventsinsert"}});
  return true;
}

void Listener::Run(bool connected, Activity& activity) {
  const Clock& clock = signals_.clock();
  Backoff backoff(options_.initial_retry_delay, options_.max_retry_delay);
  absl::Time last_ping = clock.Now();
  while (!signals_.stopping()) {
    if (!connected) {
      const absl::Time retry_at = clock.Now() + backoff.Next();
      board_.UpdateSource([&](SourceStatus& src) { src.next_retry = retry_at; });
      if (!signals_.SleepUntil(retry_at)) break;
      BusyScope busy(activity);
      if (!Connect()) continue;
      connected = true;
      backoff.Reset();
      signals_.Notify();  // a full pass after every reconnect: nothing missed while away
    }
    absl::StatusOr<std::vector<std::string>> payloads = std::vector<std::string>{};
    if (clock.Now() - last_ping >= options_.listen_ping_interval) {
      last_ping = clock.Now();
      BusyScope busy(activity);
      if (absl::Status s = wakeups_->Ping(); !s.ok()) payloads = s;
    }
    if (payloads.ok()) payloads = wakeups_->Wait(options_.listen_wait);
    if (!payloads.ok()) {
      Lost(payloads.status());
      connected = false;
      continue;
    }
    if (!payloads->empty()) Deliver(*payloads);
  }
  wakeups_->Close();
  board_.UpdateSource([](SourceStatus& src) { src.listening = false; });
}

void Listener::Deliver(const std::vector<std::string>& payloads) {
  int64_t max_id = 0;
  int64_t malformed = 0;
  std::string example;
  std::string problem;
  for (const std::string& p : payloads) {
    const Payload parsed = ParsePayload(p);
    if (parsed.ok) {
      max_id = std::max(max_id, parsed.id);
    } else if (malformed++ == 0) {
      example = p.substr(0, 200);
      problem = parsed.problem;
    }
  }
  if (malformed > 0) {
    log::Warn(*log::Get("engine"),
              "ignoring notification payloads that are not slate's (still a wake-up)",
              {{"count", malformed}, {"problem", problem}, {"example", example}});
  }
  const int64_t n = static_cast<int64_t>(payloads.size());
  board_.UpdateSource([&](SourceStatus& src) {
    src.notifications_total += n;
    src.malformed_notifications_total += malformed;
  });
  if (max_id > 0) signals_.NoteSourceMax(max_id);
  signals_.Notify();
}

void Listener::Lost(const absl::Status& error) {
  log::Warn(*log::Get("engine"), "lost the notification connection; reconnecting",
            {{"error", log::StatusText(error)}});
  wakeups_->Close();
  const absl::Time now = signals_.clock().Now();
  board_.UpdateSource([&](SourceStatus& src) {
    src.listening = false;
    src.last_error = log::StatusText(error);
    src.last_error_time = now;
  });
}

}  // namespace slate::core
