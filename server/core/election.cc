#include "server/core/election.h"

#include "server/common/log.h"

namespace slate::core {

absl::string_view RoleName(Role role) { return role == Role::kActive ? "active" : "standby"; }

Election::Election(ElectionOptions options, std::unique_ptr<LeaderLock> lock, const Clock& clock,
                   ElectionCallbacks callbacks)
    : options_(options), lock_(std::move(lock)), clock_(clock), callbacks_(std::move(callbacks)) {}

bool Election::SleepFor(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  return !clock_.AwaitUntil(mu_, absl::Condition(&stop), clock_.Now() + d);
}

void Election::Stop() {
  // No Interrupt() of the lock's session here: an active keeps its lock until its engine has
  // finished (Run releases it last), so no standby starts writing while batches still commit.
  absl::MutexLock lock(&mu_);
  stop_ = true;
}

Role Election::role() const {
  absl::MutexLock lock(&mu_);
  return role_;
}

std::string Election::holder() const {
  absl::MutexLock lock(&mu_);
  return holder_;
}

absl::Time Election::last_takeover() const {
  absl::MutexLock lock(&mu_);
  return last_takeover_;
}

std::string Election::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

absl::Time Election::next_retry() const {
  absl::MutexLock lock(&mu_);
  return next_retry_;
}

void Election::Lost(const absl::Status& error, bool was_active) {
  auto log = log::Get("main");
  {
    absl::MutexLock lock(&mu_);
    last_error_ = log::StatusText(error);
    next_retry_ = clock_.Now() + options_.retry;
  }
  if (was_active) {
    log::Error(*log, "cannot confirm the leader lock; fencing: every write stops now",
               {{"error", log::StatusText(error)}});
    callbacks_.on_standby();
    {
      absl::MutexLock lock(&mu_);
      role_ = Role::kStandby;
    }
    log::Warn(*log, "standby: writes stopped; trying the leader lock again");
  }
  lock_->Close();
}

void Election::Run() {
  auto log = log::Get("main");
  bool connected = false;
  std::string logged_holder;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    const bool active = role() == Role::kActive;
    if (!connected) {
      if (absl::Status s = lock_->Connect(); !s.ok()) {
        Lost(s, active);
        if (!SleepFor(options_.retry)) break;
        continue;
      }
      connected = true;
    }
    if (active) {
      if (!SleepFor(options_.confirm_every)) break;
      if (absl::Status s = lock_->Confirm(); !s.ok()) {
        Lost(s, /*was_active=*/true);
        connected = false;
      }
      continue;
    }
    absl::StatusOr<bool> took = lock_->TryTake();
    if (!took.ok()) {
      Lost(took.status(), false);
      connected = false;
      if (!SleepFor(options_.retry)) break;
      continue;
    }
    if (*took) {
      {
        absl::MutexLock lock(&mu_);
        role_ = Role::kActive;
        holder_.clear();
        last_error_.clear();
        last_takeover_ = clock_.Now();
      }
      log::Info(*log, "active: took the leader lock");
      callbacks_.on_active();
      continue;
    }
    auto who = lock_->Holder();
    const std::string holder = who.ok() ? *who : "";
    {
      absl::MutexLock lock(&mu_);
      holder_ = holder;
      last_error_.clear();  // the source answers
    }
    if (holder != logged_holder) {
      logged_holder = holder;
      log::Info(*log, "standby: another instance is active",
                {{"active", holder.empty() ? std::string("(just released)") : holder}});
    }
    if (!SleepFor(options_.retry)) break;
  }
  if (role() == Role::kActive) {
    callbacks_.on_standby();
    absl::MutexLock lock(&mu_);
    role_ = Role::kStandby;
  }
  lock_->Close();  // releases the lock: a standby takes over at once
}

}  // namespace slate::core
