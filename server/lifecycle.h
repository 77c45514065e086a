#pragma once

// Pieces of the process lifecycle, free of what they stop.
//
// StopRequest: the one way to ask the running process to stop (a signal, the Stop RPC). Made by
// main before anything starts, so a signal during start-up is not lost; thread-safe.
//
// ReloadSignal: the one way to ask for a config reload from outside the API (SIGHUP); thread-safe.
//
// SignalThread: the one thread that takes SIGINT, SIGTERM and SIGHUP (it blocks them in the
// constructing thread, so every thread started after it inherits the mask): the first SIGINT or
// SIGTERM asks the StopRequest for a graceful stop, the second calls `on_second` (which ends the
// process); SIGHUP asks the ReloadSignal (when there is one) for a reload. Handlers never run.
//
// ShutdownSteps: every service registers how it stops right where it starts; RunAll() runs the
// steps in reverse order of registration and logs each one, so the shutdown order cannot drift
// from the start order. Used by the thread that starts and stops the process.

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slate {

class StopRequest {
 public:
  // Asks for a graceful stop. A non-zero `deadline` bounds it (the earliest one given wins).
  void Request(absl::Duration deadline = absl::ZeroDuration());
  bool requested() const;
  // The absolute time by which the stop must be done (InfiniteFuture: no limit).
  absl::Time deadline() const;
  // Waits up to `timeout` for a request; returns whether one was made.
  bool WaitFor(absl::Duration timeout) const;

 private:
  mutable absl::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

class ReloadSignal {
 public:
  void Request();
  // Ends every wait (the process is stopping).
  void Close();
  // Waits up to `timeout` for a request newer than *seen (updating it); true when there is one.
  bool WaitFor(uint64_t* seen, absl::Duration timeout) const;

 private:
  mutable absl::Mutex mu_;
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class SignalThread {
 public:
  SignalThread(StopRequest& stop, std::function<void()> on_second, ReloadSignal* reload = nullptr);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  void Loop();

  StopRequest& stop_;
  const std::function<void()> on_second_;
  ReloadSignal* const reload_;
  sigset_t signals_;
  std::atomic<bool> exiting_{false};
  std::thread thread_;
};

class ShutdownSteps {
 public:
  ShutdownSteps() = default;
  ~ShutdownSteps() { RunAll(); }
  ShutdownSteps(const ShutdownSteps&) = delete;
  ShutdownSteps& operator=(const ShutdownSteps&) = delete;

  // `what` names the step in the log: "stopping <what>", then "<what> stopped".
  void Defer(std::string what, std::function<void()> stop);
  // Runs every step not yet run, newest first. Idempotent.
  void RunAll();

 private:
  struct Step {
    std::string what;
    std::function<void()> stop;
  };
  std::vector<Step> steps_;
};

}  // namespace slate
