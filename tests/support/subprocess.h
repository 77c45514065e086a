#pragma once

// Child processes for tests: PostgreSQL servers, initdb, slate-replicator, slatectl. A child can
// run as another user (PostgreSQL refuses root) and dies with the test binary, so a killed test
// leaves nothing running.

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace slate::testing {

struct SpawnOptions {
  // Run as this uid/gid when >= 0 (needs root).
  int uid = -1;
  int gid = -1;
  // stdout and stderr go here (appended) when set; otherwise they are inherited.
  std::string output_path;
  // Signal the child gets when the spawning thread dies (0: none).
  int parent_death_signal = 0;
  // Extra environment entries, "NAME=value".
  std::vector<std::string> env;
};

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

// Waits for the child; returns its exit code, or 128 + signal when a signal ended it.
absl::StatusOr<int> WaitExit(pid_t pid);

// Runs to completion; the exit code as WaitExit gives it.
absl::StatusOr<int> RunProcess(const std::vector<std::string>& argv, const SpawnOptions& options);

// Reads a whole file ("" when missing).
std::string ReadFile(const std::string& path);

}  // namespace slate::testing

namespace slate::testing {

// Waits up to `timeout` for the child; DeadlineExceeded if it is still running.
absl::StatusOr<int> WaitExitFor(pid_t pid, int timeout_ms);

}  // namespace slate::testing
