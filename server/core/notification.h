#pragma once

// Notifications on `eventsinsert` are wake-ups only: every one, well-formed or not, starts a pass.
// The payload is read just to learn the newest id (for lag) and to report payloads that are not
// ours. Accepted: a JSON object with "table": "events" and a positive integer "id", with or
// without the original trigger's "event" (which is skipped, never interpreted).

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace slate::core {

struct Payload {
  bool ok = false;
  int64_t id = 0;       // when ok
  std::string problem;  // when not ok: what is wrong, for the log
};

Payload ParsePayload(absl::string_view payload);

}  // namespace slate::core
