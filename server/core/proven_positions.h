#pragma once

// What continuous verification has proven: per destination, ids 1..N compared equal to the
// source, in this run or by the run whose checkpoint it went on from (continuous_verify.h), with
// no difference found (0 while the destination is diverged). A destination seeded from another
// (seeded_source.h) reads from it only rows up to its proven position. The verifier of each
// destination writes it; seeded sources read it.
//
// Threads: thread-safe, each call one short lock.

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace slate::core {

class ProvenPositions {
 public:
  void Set(const std::string& name, int64_t position) {
    absl::MutexLock lock(&mu_);
    proven_[name] = position;
  }
  void Remove(const std::string& name) {
    absl::MutexLock lock(&mu_);
    proven_.erase(name);
  }
  // 0 when nothing is proven (or `name` is not known).
  int64_t Get(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    auto it = proven_.find(name);
    return it == proven_.end() ? 0 : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> proven_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slate::core
