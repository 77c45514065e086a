#pragma once

// The classes of difference (server/core/verify.h) as slatectl prints them: verify, repair.

#include <string>

#include <nlohmann/json.hpp>

#include "server/core/verify.h"

namespace slate::ctl {

// {"ts_millis": {"count": N, "first_ids": [...]}, "content": ..., "missing": ..., "extra": ...}:
// every class, in that order (README documents the names).
nlohmann::ordered_json ClassesJson(const core::Differences& d);
// One line per class found: "  ts truncated to the millisecond:  29986  (ids 1, 2, 3, 4, 5, ...)".
std::string ClassesText(const core::Differences& d);

}  // namespace slate::ctl
