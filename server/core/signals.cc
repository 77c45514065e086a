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

bool Signals::stopping(uint64_t lane) const {
  absl::MutexLock lock(&mu_);
  return StoppingLocked(lane);
}

bool Signals::StoppingLocked(uint64_t lane) const {
  if (stopping_) return true;
  if (lane == kNoLane) return false;
  auto it = lanes_.find(lane);
  return it == lanes_.end() || it->second.ending;
}

uint64_t Signals::LaneVersionLocked(uint64_t lane) const {
  auto it = lanes_.find(lane);
  return it == lanes_.end() ? 0 : it->second.version;
}

uint64_t Signals::AddLane(bool paused, const std::string& paused_by) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_lane_++;
  LaneControl& c = lanes_[id];
  c.paused = paused;
  if (paused) {
    c.paused_since = clock_.Now();
    c.paused_by = paused_by;
  }
  return id;
}

void Signals::EndLane(uint64_t lane) {
  absl::MutexLock lock(&mu_);
  auto it = lanes_.find(lane);
  if (it == lanes_.end()) return;
  it->second.ending = true;
  ++it->second.version;
}

void Signals::DropLane(uint64_t lane) {
  absl::MutexLock lock(&mu_);
  lanes_.erase(lane);
}

bool Signals::SetPaused(uint64_t lane, bool paused, const std::string& by) {
  absl::MutexLock lock(&mu_);
  auto it = lanes_.find(lane);
  if (it == lanes_.end() || it->second.paused == paused) return false;
  LaneControl& c = it->second;
  c.paused = paused;
  c.paused_since = paused ? clock_.Now() : absl::InfinitePast();
  c.paused_by = paused ? by : "";
  ++c.version;
  return true;
}

LaneControl Signals::Lane(uint64_t lane) const {
  absl::MutexLock lock(&mu_);
  auto it = lanes_.find(lane);
  return it == lanes_.end() ? LaneControl{} : it->second;
}

void Signals::Notify() {
  absl::MutexLock lock(&mu_);
  ++wake_generation_;
}

uint64_t Signals::wake_generation() const {
  absl::MutexLock lock(&mu_);
  return wake_generation_;
}

bool Signals::WaitForWakeup(uint64_t* seen, absl::Time deadline, uint64_t lane,
                            uint64_t lane_version) const {
  absl::MutexLock lock(&mu_);
  const uint64_t before = *seen;
  auto ready = [this, before, lane, lane_version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return StoppingLocked(lane) || wake_generation_ != before ||
           (lane != kNoLane && LaneVersionLocked(lane) != lane_version);
  };
  clock_.AwaitUntil(mu_, absl::Condition(&ready), deadline);
  *seen = wake_generation_;
  return !StoppingLocked(lane);
}

bool Signals::SleepUntil(absl::Time deadline, uint64_t lane) const {
  absl::MutexLock lock(&mu_);
  auto stop = [this, lane]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return StoppingLocked(lane); };
  clock_.AwaitUntil(mu_, absl::Condition(&stop), deadline);
  return !StoppingLocked(lane);
}

bool Signals::WaitForLaneChange(uint64_t lane, uint64_t version, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, lane, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return StoppingLocked(lane) || LaneVersionLocked(lane) != version;
  };
  clock_.AwaitUntil(mu_, absl::Condition(&changed), deadline);
  return !StoppingLocked(lane);
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
