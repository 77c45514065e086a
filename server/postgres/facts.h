#pragma once

// Reads what start-up validation needs from one database (server/core/validation.h). Never
// writes. A database that cannot be reached gives facts with reachable = false, the error, and
// whether the failure may pass (transient: refused, timed out, starting up, too many clients) or
// not (wrong password, missing database).
// For a destination whose writer lock is held, waits up to `lock_wait` for it to be released:
// after a crash the dead replicator's session can outlive it briefly, and a restart must not
// mistake it for a second replicator.

#include <string>

#include "absl/time/time.h"

#include "server/common/conn_params.h"
#include "server/core/validation.h"

namespace slate::pg {

// `group_key` (GroupKey of the config, adapters.h; 0: none) tells whether a destination's writer
// lock holder is an instance of the same config.
core::DatabaseFacts GatherFacts(const ConnParams& params, const std::string& label,
                                bool is_destination,
                                absl::Duration lock_wait = absl::ZeroDuration(), int group_key = 0);

}  // namespace slate::pg
