#pragma once

// Wiring shared by main, the tests and (later) the control plane: config -> validation ->
// engine with PostgreSQL adapters.

#include <memory>
#include <vector>

#include "server/config/config.h"
#include "server/core/engine.h"
#include "server/core/validation.h"

namespace slate {

// Gathers facts from every database in `config` and runs every start-up check. Writes nothing.
// A destination's held writer lock is waited for up to `lock_wait` (see GatherFacts).
std::vector<core::Check> ValidateDatabases(const config::Config& config,
                                           absl::Duration lock_wait = absl::ZeroDuration());

// An engine (not started) replicating `config`'s source into its destinations.
std::unique_ptr<core::Engine> BuildEngine(const config::Config& config);

}  // namespace slate
