#pragma once

// A progress line on stderr for long slatectl commands (repair, restore): a bar, the share done,
// counts, the rate and an ETA. On a terminal one line is redrawn; otherwise a line is written at
// most every 5 seconds, so logs stay short.

#include <chrono>
#include <cstdint>
#include <string>

namespace slate::ctl {

class Progress {
 public:
  // `enabled` false: silent (e.g. JSON output).
  Progress(std::string label, std::string unit, bool enabled);
  // `done` of `total` units; `extra` is appended ("1234 repaired").
  void Update(int64_t done, int64_t total, const std::string& extra = "");
  // Clears the redrawn line.
  void Finish();
  double seconds() const;

 private:
  const std::string label_;
  const std::string unit_;
  const bool enabled_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_line_;
  bool drawn_ = false;
};

}  // namespace slate::ctl
