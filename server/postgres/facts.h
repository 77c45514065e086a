#pragma once

// Reads what start-up validation needs from one database (server/core/validation.h). Never
// writes. A database that cannot be reached gives facts with reachable = false and the error.

#include <string>

#include "server/common/conn_params.h"
#include "server/core/validation.h"

namespace slate::pg {

core::DatabaseFacts GatherFacts(const ConnParams& params, const std::string& label,
                                bool is_destination);

}  // namespace slate::pg
