#include "server/core/signals.h"

namespace slate::core {

void Signals::RequestStop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Changed();
}

bool Signals::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void Signals::Notify() {
  absl::MutexLock lock(&mu_);
  ++wake_generation_;
}

uint64_t Signals::wake_generation() const {
  absl::MutexLock lock(&mu_);
  return wake_generation_;
}

bool Signals::WaitForWakeup(uint64_t* seen, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  const uint64_t before = *seen;
  auto ready = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || wake_generation_ != before;
  };
  clock_.AwaitUntil(mu_, absl::Condition(&ready), deadline);
  *seen = wake_generation_;
  return !stopping_;
}

bool Signals::SleepUntil(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  clock_.AwaitUntil(mu_, absl::Condition(&stop), deadline);
  return !stopping_;
}

void Signals::NoteSourceMax(int64_t id) {
  bool raised = false;
  {
    absl::MutexLock lock(&mu_);
    if (id > head_.max_id) {
      head_.max_id = id;
      raised = true;
    }
  }
  if (raised) Changed();
}

void Signals::NoteSourceHead(int64_t id, absl::Time newest_event_time) {
  bool raised = false;
  {
    absl::MutexLock lock(&mu_);
    if (id >= head_.max_id) {
      raised = id > head_.max_id || head_.newest_event_time != newest_event_time;
      head_.max_id = id;
      head_.newest_event_time = newest_event_time;
    }
  }
  if (raised) Changed();
}

KnownHead Signals::head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

}  // namespace slate::core
