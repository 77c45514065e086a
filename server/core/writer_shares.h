#pragma once

// Parallel writes shared by the destinations of one machine. A second session writing a
// destination pays while the destination's server has a core to spare for it. Destinations whose
// databases run on one machine (two databases of one cluster, or two clusters of one host) and
// that copy a backlog at the same time compete for the same cores: their second sessions then add
// only contention (on the same right-hand pages of the same indexes) and CPU. So while several
// destinations of one machine copy a backlog, each writes with its share of its sessions,
// max(1, sessions / destinations copying there); alone, or once the others have caught up, with
// all of them. A destination following live writes (one batch a pass) takes no share.
//
// Measured (README Performance): two destinations on one 2-core machine, 1M events, three
// rounds side by side, two writer sessions each against one: 0.93x against 1.00x the teed pipe,
// database CPU +10% against +2%; with bulk bootstrap 1.08x against 1.14x.
//
// The machine is what the address tells (ConnParams::MachineKey): two names of one machine are
// two machines here, and an empty key shares with none.
//
// Threads: thread-safe; each destination loop holds a Claim from its own thread.

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace slate::core {

class WriterShares {
 public:
  // One destination copying a backlog on `machine`, until destroyed.
  class Claim {
   public:
    Claim(WriterShares& shares, std::string machine);
    ~Claim();
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;

    // How many of its `sessions` the destination writes with now (at least 1).
    int Share(int sessions) const;

   private:
    WriterShares& shares_;
    const std::string machine_;
  };

  // Destinations copying a backlog on `machine` now (0 for an empty key).
  int Copying(const std::string& machine) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int> copying_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slate::core
