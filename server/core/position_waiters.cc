#include "server/core/position_waiters.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slate::core {

PositionWaiters::PositionWaiters(const Clock& clock) : clock_(clock) {
  timer_ = std::thread([this] { TimerLoop(); });
}

PositionWaiters::~PositionWaiters() {
  Shutdown();
  {
    absl::MutexLock lock(&mu_);
    stop_timer_ = true;
  }
  timer_.join();
}

void PositionWaiters::Add(const std::string& name) {
  absl::MutexLock lock(&mu_);
  positions_.emplace(name, 0);
}

WaitResult PositionWaiters::ResultLocked(const Waiter& w, absl::Status status) const {
  WaitResult r;
  r.status = std::move(status);
  for (const std::string& name : w.names) {
    auto it = positions_.find(name);
    r.positions.emplace_back(name, it == positions_.end() ? 0 : it->second);
  }
  return r;
}

bool PositionWaiters::SatisfiedLocked(const Waiter& w) const {
  return std::all_of(w.names.begin(), w.names.end(), [&](const std::string& name) {
    auto it = positions_.find(name);
    return it != positions_.end() && it->second >= w.id;
  });
}

PositionWaiters::Waiters::iterator PositionWaiters::EraseLocked(Waiters::iterator it) {
  auto range = by_deadline_.equal_range(it->second->deadline);
  for (auto d = range.first; d != range.second; ++d) {
    if (d->second == it->second) {
      by_deadline_.erase(d);
      break;
    }
  }
  return waiters_.erase(it);
}

void PositionWaiters::Remove(const std::string& name) {
  std::vector<std::pair<Done, WaitResult>> settled;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      const Waiter& w = *it->second;
      if (std::find(w.names.begin(), w.names.end(), name) == w.names.end()) {
        ++it;
        continue;
      }
      settled.emplace_back(
          w.done,
          ResultLocked(w, absl::FailedPreconditionError(absl::StrCat(
                              "destination ", name,
                              " was removed (a reload) while waiting; wait on the others"))));
      it = EraseLocked(it);
    }
    positions_.erase(name);
    ++deadlines_version_;
  }
  for (auto& [done, result] : settled) done(std::move(result));
}

int64_t PositionWaiters::Position(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto p = positions_.find(name);
  return p == positions_.end() ? 0 : p->second;
}

void PositionWaiters::Committed(const std::string& name, int64_t position) {
  std::vector<std::pair<Done, WaitResult>> settled;
  {
    absl::MutexLock lock(&mu_);
    auto p = positions_.find(name);
    if (p == positions_.end() || position <= p->second) return;
    p->second = position;
    const auto end = waiters_.upper_bound(position);
    for (auto it = waiters_.begin(); it != end;) {
      const Waiter& w = *it->second;
      if (!SatisfiedLocked(w)) {
        ++it;
        continue;
      }
      settled.emplace_back(w.done, ResultLocked(w, absl::OkStatus()));
      it = EraseLocked(it);
    }
    if (!settled.empty()) ++deadlines_version_;
  }
  for (auto& [done, result] : settled) done(std::move(result));
}

absl::Status PositionWaiters::Wait(int64_t id, std::vector<std::string> names, absl::Time deadline,
                                   Done done) {
  auto w = std::make_shared<Waiter>();
  w->id = id;
  w->deadline = deadline;
  w->done = std::move(done);
  WaitResult now_result;
  {
    absl::MutexLock lock(&mu_);
    if (names.empty()) {
      for (const auto& [name, position] : positions_) names.push_back(name);
    }
    std::vector<std::string> unknown;
    for (const std::string& name : names) {
      if (positions_.count(name) == 0) unknown.push_back(name);
    }
    if (!unknown.empty()) {
      std::vector<std::string> known;
      for (const auto& [name, position] : positions_) known.push_back(name);
      return absl::NotFoundError(absl::StrCat(
          "no destination named ", absl::StrJoin(unknown, ", "),
          " here; the destinations are: ", known.empty() ? "(none)" : absl::StrJoin(known, ", ")));
    }
    w->names = std::move(names);
    if (!shutdown_.ok()) {
      now_result = ResultLocked(*w, shutdown_);
    } else if (SatisfiedLocked(*w)) {
      now_result = ResultLocked(*w, absl::OkStatus());
    } else if (clock_.Now() >= deadline) {
      now_result = ResultLocked(
          *w, absl::DeadlineExceededError(absl::StrCat("id ", id, " not reached in time")));
    } else {
      waiters_.emplace(id, w);
      by_deadline_.emplace(deadline, w);
      ++deadlines_version_;
      return absl::OkStatus();
    }
  }
  w->done(std::move(now_result));
  return absl::OkStatus();
}

void PositionWaiters::Shutdown(const absl::Status& why) {
  std::vector<std::pair<Done, WaitResult>> settled;
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_.ok()) return;
    shutdown_ = why;
    for (auto& [id, w] : waiters_) settled.emplace_back(w->done, ResultLocked(*w, why));
    waiters_.clear();
    by_deadline_.clear();
    ++deadlines_version_;
  }
  for (auto& [done, result] : settled) done(std::move(result));
}

size_t PositionWaiters::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

void PositionWaiters::TimerLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_timer_) {
    const absl::Time next =
        by_deadline_.empty() ? absl::InfiniteFuture() : by_deadline_.begin()->first;
    const uint64_t version = deadlines_version_;
    auto changed = [this, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_timer_ || deadlines_version_ != version;
    };
    if (next == absl::InfiniteFuture()) {
      mu_.Await(absl::Condition(&changed));  // nothing to time: no clock waiter
    } else {
      clock_.AwaitUntil(mu_, absl::Condition(&changed), next);
    }
    std::vector<std::pair<Done, WaitResult>> settled;
    const absl::Time now = clock_.Now();
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      std::shared_ptr<Waiter> w = by_deadline_.begin()->second;
      by_deadline_.erase(by_deadline_.begin());
      auto range = waiters_.equal_range(w->id);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == w) {
          waiters_.erase(it);
          break;
        }
      }
      settled.emplace_back(w->done, ResultLocked(*w, absl::DeadlineExceededError(absl::StrCat(
                                                         "id ", w->id,
                                                         " not reached by every destination named "
                                                         "before the timeout"))));
    }
    if (settled.empty()) continue;
    mu_.Unlock();
    for (auto& [done, result] : settled) done(std::move(result));
    mu_.Lock();
  }
}

}  // namespace slate::core
