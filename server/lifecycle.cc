#include "server/lifecycle.h"

#include <pthread.h>

#include <algorithm>
#include <ctime>

#include "absl/time/clock.h"

#include "server/common/log.h"

namespace slate {

void StopRequest::Request(absl::Duration deadline) {
  absl::MutexLock lock(&mu_);
  requested_ = true;
  if (deadline > absl::ZeroDuration()) deadline_ = std::min(deadline_, absl::Now() + deadline);
}

bool StopRequest::requested() const {
  absl::MutexLock lock(&mu_);
  return requested_;
}

absl::Time StopRequest::deadline() const {
  absl::MutexLock lock(&mu_);
  return deadline_;
}

bool StopRequest::WaitFor(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&requested_), timeout);
  return requested_;
}

void ReloadSignal::Request() {
  absl::MutexLock lock(&mu_);
  ++requests_;
}

void ReloadSignal::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool ReloadSignal::WaitFor(uint64_t* seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const uint64_t before = *seen;
  auto ready = [this, before]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || requests_ != before; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  *seen = requests_;
  return !closed_ && requests_ != before;
}

SignalThread::SignalThread(StopRequest& stop, std::function<void()> on_second, ReloadSignal* reload)
    : stop_(stop), on_second_(std::move(on_second)), reload_(reload) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  thread_ = std::thread([this] { Loop(); });
}

SignalThread::~SignalThread() {
  exiting_ = true;
  thread_.join();
}

void SignalThread::Loop() {
  auto log = log::Get("main");
  const timespec tick{0, 200 * 1000 * 1000};
  int received = 0;
  while (!exiting_.load()) {
    const int sig = sigtimedwait(&signals_, nullptr, &tick);
    if (sig < 0) continue;  // timeout or EINTR: look at exiting_ again
    if (sig == SIGHUP) {
      if (reload_ == nullptr) {
        log::Info(*log, "SIGHUP ignored: nothing to reload here");
        continue;
      }
      log::Info(*log, "SIGHUP received; reloading the config");
      reload_->Request();
      continue;
    }
    if (received++ == 0) {
      log::Info(*log, "signal received; stopping (a second signal exits at once)",
                {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      stop_.Request();
    } else {
      log::Warn(*log, "second signal; exiting now (open batches roll back)");
      on_second_();
    }
  }
}

void ShutdownSteps::Defer(std::string what, std::function<void()> stop) {
  steps_.push_back(Step{std::move(what), std::move(stop)});
}

void ShutdownSteps::RunAll() {
  auto log = log::Get("main");
  while (!steps_.empty()) {
    Step step = std::move(steps_.back());
    steps_.pop_back();
    log::Info(*log, "stopping " + step.what);
    step.stop();
    log::Info(*log, step.what + " stopped");
  }
}

}  // namespace slate
