#pragma once

// init-db: creates a new database and makes it a slate source or destination in one go, like
// the original init-slate-db tool.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include "server/common/conn_params.h"
#include "server/postgres/schema.h"

namespace slate::pg {

struct InitDbRequest {
  // The server to create it on. `database` is the maintenance database to connect to first
  // ("postgres" when empty).
  ConnParams server;
  TableType type = TableType::kDestination;
  std::string new_database;
  bool dry_run = false;  // check everything, create nothing
};

// Checks the name, refuses an existing database, creates it and runs SchemaSql(type) in one
// transaction. `progress` receives one line per step. Errors:
//   InvalidArgument     the name is not acceptable (nothing was touched);
//   AlreadyExists       a database of that name exists (nothing was touched);
//   Unavailable         the server could not be reached;
//   FailedPrecondition  a step failed; the message says what was left behind and how to drop it.
absl::Status InitDatabase(const InitDbRequest& request,
                          const std::function<void(absl::string_view)>& progress);

}  // namespace slate::pg
