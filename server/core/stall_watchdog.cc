#include "server/core/stall_watchdog.h"

#include <algorithm>

#include "server/common/log.h"

namespace slate::core {

StallWatchdog::StallWatchdog(const Clock& clock, absl::Duration timeout)
    : clock_(clock), timeout_(timeout) {}

StallWatchdog::~StallWatchdog() { Stop(); }

Activity& StallWatchdog::Watch(std::string name, std::function<void()> interrupt) {
  absl::MutexLock lock(&mu_);
  watched_.push_back(std::make_unique<Watched>());
  watched_.back()->name = std::move(name);
  watched_.back()->interrupt = std::move(interrupt);
  watched_.back()->last_change = clock_.Now();
  return watched_.back()->activity;
}

void StallWatchdog::Unwatch(const Activity& activity) {
  absl::MutexLock lock(&mu_);
  watched_.erase(
      std::remove_if(watched_.begin(), watched_.end(),
                     [&](const std::unique_ptr<Watched>& w) { return &w->activity == &activity; }),
      watched_.end());
}

void StallWatchdog::Start() {
  if (timeout_ <= absl::ZeroDuration()) return;
  thread_ = std::thread([this] { Loop(); });
}

void StallWatchdog::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void StallWatchdog::Loop() {
  auto log = log::Get("engine");
  const absl::Duration tick = std::min(absl::Seconds(1), timeout_ / 4);
  absl::MutexLock lock(&mu_);
  while (true) {
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    if (clock_.AwaitUntil(mu_, absl::Condition(&stop), clock_.Now() + tick)) return;
    const absl::Time now = clock_.Now();
    for (const std::unique_ptr<Watched>& w : watched_) {
      Activity& a = w->activity;
      const uint64_t ticks = a.ticks_.load();
      if (!a.busy_.load() || ticks != w->last_ticks) {
        w->last_ticks = ticks;
        w->last_change = now;
        continue;
      }
      if (now - w->last_change < timeout_) continue;
      w->last_change = now;  // once per stall timeout
      log::Warn(*log, "no progress inside a database call; interrupting its connections",
                {{"thread", w->name}, {"stalled_seconds", absl::ToDoubleSeconds(timeout_)}});
      w->interrupt();
    }
  }
}

}  // namespace slate::core
