#include "server/core/election.h"

#include "server/common/log.h"

namespace slate::core {

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

bool Election::stopping() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

ElectionState Election::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void Election::SetRole(Role role) {
  absl::MutexLock lock(&mu_);
  state_.role = role;
}

void Election::Lost(const absl::Status& error, bool was_active) {
  auto log = log::Get("main");
  {
    absl::MutexLock lock(&mu_);
    state_.last_error = log::StatusText(error);
    state_.next_retry = clock_.Now() + options_.retry;
  }
  if (was_active) {
    log::Error(*log, "cannot confirm the leader lock; fencing: every write stops now",
               {{"error", log::StatusText(error)}});
    callbacks_.on_standby();
    SetRole(Role::kStandby);
    log::Warn(*log, "standby: writes stopped; trying the leader lock again");
  }
  lock_->Close();
}

void Election::Run() {
  auto log = log::Get("main");
  // This thread alone changes the role; `active` is its own copy of it.
  bool active = false;
  bool connected = false;  // always true while active
  std::string logged_holder;
  while (!stopping()) {
    if (!connected) {
      if (absl::Status s = lock_->Connect(); !s.ok()) {
        Lost(s, /*was_active=*/false);
        if (!SleepFor(options_.retry)) break;
        continue;
      }
      connected = true;
    }
    if (active) {
      if (!SleepFor(options_.confirm_every)) break;
      if (absl::Status s = lock_->Confirm(); !s.ok()) {
        Lost(s, /*was_active=*/true);
        active = false;
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
      active = true;
      {
        absl::MutexLock lock(&mu_);
        state_.role = Role::kActive;
        state_.holder.clear();
        state_.last_error.clear();
        state_.last_takeover = clock_.Now();
      }
      log::Info(*log, "active: took the leader lock");
      callbacks_.on_active();
      continue;
    }
    auto who = lock_->Holder();
    const std::string holder = who.ok() ? *who : "";
    {
      absl::MutexLock lock(&mu_);
      state_.holder = holder;
      state_.last_error.clear();  // the source answers
    }
    if (holder != logged_holder) {
      logged_holder = holder;
      log::Info(*log, "standby: another instance is active",
                {{"active", holder.empty() ? std::string("(just released)") : holder}});
    }
    if (!SleepFor(options_.retry)) break;
  }
  if (active) {
    callbacks_.on_standby();
    SetRole(Role::kStandby);
  }
  lock_->Close();  // releases the lock: a standby takes over at once
}

}  // namespace slate::core
