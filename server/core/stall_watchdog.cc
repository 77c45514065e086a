#include "server/core/stall_watchdog.h"

#include <algorithm>

#include "server/common/log.h"

namespace slate::core {

StallWatchdog::StallWatchdog(const Clock& clock, absl::Duration timeout)
    : clock_(clock), timeout_(timeout) {}

StallWatchdog::~StallWatchdog() { Stop(); }

Activity& StallWatchdog::Watch(std::string name, std::function<void()> interrupt) {
  watched_.push_back(std::make_unique<Watched>());
  watched_.back()->name = std::move(name);
  watched_.back()->interrupt = std::move(interrupt);
  return watched_.back()->activity;
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
  std::vector<uint64_t> last_ticks(watched_.size(), 0);
  std::vector<absl::Time> last_change(watched_.size(), clock_.Now());
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      if (clock_.AwaitUntil(mu_, absl::Condition(&stop), clock_.Now() + tick)) return;
    }
    const absl::Time now = clock_.Now();
    for (size_t i = 0; i < watched_.size(); ++i) {
      Activity& a = watched_[i]->activity;
      const uint64_t ticks = a.ticks_.load();
      if (!a.busy_.load() || ticks != last_ticks[i]) {
        last_ticks[i] = ticks;
        last_change[i] = now;
        continue;
      }
      if (now - last_change[i] < timeout_) continue;
      last_change[i] = now;  // once per stall timeout
      log::Warn(
          *log, "no progress inside a database call; interrupting its connections",
          {{"thread", watched_[i]->name}, {"stalled_seconds", absl::ToDoubleSeconds(timeout_)}});
      watched_[i]->interrupt();
    }
  }
}

}  // namespace slate::core
