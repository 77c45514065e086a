#pragma once

// A libpq connection string ("host=... dbname=..." or "postgresql://user@host:port/db") as
// ConnParams, for command-line flags such as slatectl restore --from-dsn. Keys other than host,
// port, dbname, user, password and sslmode are refused (the config cannot carry them either).

#include <string>

#include "absl/status/statusor.h"

#include "server/common/conn_params.h"

namespace slate::pg {

absl::StatusOr<ConnParams> ParseDsn(const std::string& dsn);

}  // namespace slate::pg
