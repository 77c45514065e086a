#pragma once

// A destination's source that reads its backlog from another destination (its seed), so adding a
// replica costs the source little: rows up to what continuous verification has proven equal on
// the seed (proven_positions.h) are read from the seed, the rest from the source, in one stream,
// so a pass sees the same rows, in the same order, as from the source alone, and commits whole
// source transactions as always. The seed's rows are the source's: the seed is a destination of
// the same source, and every row read from it was compared equal to the source's first.
//
// Everything but reads (Head, First) goes to the source. A seed that does not answer, or fails
// during a read, costs nothing but its rows: the read goes on from the source where the seed's
// stopped (one warning per outage, an info line when the seed is read again).
//
// Threads: the destination loop's thread; Interrupt() from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/core/interfaces.h"

namespace slate::core {

struct SeedOptions {
  std::string destination;  // for log lines
  std::string seed;         // the seed's name
  // How far the seed is proven equal to the source (ids 1..N); 0: nothing.
  std::function<int64_t()> proven;
  // Called after each read that took rows from the seed, with their number (may be empty).
  std::function<void(int64_t rows)> on_seed_rows;
};

std::unique_ptr<EventSource> NewSeededSource(std::unique_ptr<EventSource> source,
                                             std::unique_ptr<EventSource> seed,
                                             SeedOptions options);

}  // namespace slate::core
