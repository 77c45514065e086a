#pragma once

// Capped exponential backoff: initial, 2x, 4x, ... up to max. Deterministic (one replicator per
// destination: no herd to spread). Not thread-safe.

#include <algorithm>

#include "absl/time/time.h"

namespace slate::core {

class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max) : initial_(initial), max_(max) {}

  absl::Duration Next() {
    absl::Duration d = initial_;
    for (int i = 0; i < attempts_ && d < max_; ++i) d *= 2;
    ++attempts_;
    return std::min(d, max_);
  }
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  absl::Duration initial_;
  absl::Duration max_;
  int attempts_ = 0;
};

}  // namespace slate::core
