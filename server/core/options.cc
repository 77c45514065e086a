#include "server/core/options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace slate::core {

std::vector<std::string> Sanitize(EngineOptions& options) {
  std::vector<std::string> notes;
  if (options.max_events_per_write < kMinEventsPerWrite) {
    notes.push_back(absl::StrCat("maxEventsPerWrite ", options.max_events_per_write,
                                 " raised to the minimum ", kMinEventsPerWrite));
    options.max_events_per_write = kMinEventsPerWrite;
  }
  options.parallel_writes = std::max(1, options.parallel_writes);
  options.initial_retry_delay = std::min(options.initial_retry_delay, options.max_retry_delay);
  return notes;
}

}  // namespace slate::core
