#pragma once

// What a destination does about a hole (a missing id while later ids exist), as a pure function:
// the pass's result and the time in, a decision out. No I/O, no clock, no logging: the
// destination loop acts on the decision (logs, status, the next pass's options).
//
// Rules: a hole is held, never skipped, unless skipHolesAfter opts in; then it is passed once it
// has been waited at that long. A hole inside a source transaction first commits everything
// before that transaction (a pass bounded to it), so a held hole never holds back whole ones.

#include <cstdint>

#include "absl/time/time.h"

#include "server/core/copy_pass.h"

namespace slate::core {

// What the loop carries from one pass to the next about holes.
struct HoleState {
  int64_t at = 0;                           // first missing id being waited at, 0: none
  absl::Time since = absl::InfinitePast();  // when that wait began
  int64_t bounded_up_to = 0;  // the next pass stops after this id (0: reads to the end)
  int64_t skip_to = 0;        // the next pass may jump from the hole to this id (0: never)
};

enum class HoleAction {
  kNone,      // no hole: the pass ended in sync
  kFilled,    // the hole waited at is gone (the loop logs it)
  kRetryNow,  // run the next pass at once (bounded, or skipping)
  kWait,      // wait for a wake-up, at most `wait`
};

struct HoleDecision {
  HoleAction action = HoleAction::kNone;
  HoleState next;
  bool new_hole = false;  // first seen in this pass (the loop warns once)
  bool skipping = false;  // the next pass passes it (the loop logs what will be missing)
  absl::Duration wait = absl::InfiniteDuration();  // kWait: come back by then (the skip time)
};

// `pass` is the pass that just ended (not stopped); `position` the destination's position after
// it; `skip_after` zero holds holes for ever.
HoleDecision DecideHole(const HoleState& state, const PassResult& pass, int64_t position,
                        absl::Time now, absl::Duration skip_after);

}  // namespace slate::core
