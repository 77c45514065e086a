// slatectl init-db: create a slate source or destination database.

#include <iostream>

#include "absl/strings/str_cat.h"

#include "client/commands.h"
#include "client/exit_codes.h"
#include "server/common/args.h"
#include "server/common/secrets.h"
#include "server/postgres/init_db.h"

namespace slate::ctl {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"table-type", 0, true, "source|destination", "what to create (required)"},
      {"host", 0, true, "HOST", "PostgreSQL host (required)"},
      {"port", 0, true, "PORT", "PostgreSQL port (default 5432)"},
      {"user", 0, true, "USER", "user to connect as (default: libpq's, PGUSER)"},
      {"password-file", 0, true, "FILE",
       "file holding the password (default: PGPASSWORD, ~/.pgpass)"},
      {"new-database", 0, true, "NAME", "name of the database to create (required)"},
      {"dry-run", 0, false, "", "check everything, create nothing"},
      {"help", 'h', false, "", "show this help"},
  };
  return flags;
}

void Usage(std::ostream& out) {
  out << "Usage: slatectl init-db --table-type source|destination --host HOST [--port PORT]\n"
         "                        [--user USER] [--password-file FILE] --new-database NAME\n"
         "                        [--dry-run]\n\n"
         "Creates a new database and initialises it with the slate schema: a source (events,\n"
         "id, insert_events, the notify and check triggers, restore_events) or a destination\n"
         "(events and its indexes). Refuses an existing database.\n\n"
      << FlagsUsage(Flags());
}

int UsageError(const std::string& message) {
  std::cerr << "slatectl init-db: " << message << "\n\n";
  Usage(std::cerr);
  return kExitUsage;
}

}  // namespace

int RunInitDb(const std::vector<std::string>& args) {
  auto parsed = ParseArgs(Flags(), args);
  if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
  if (parsed->Has("help")) {
    Usage(std::cout);
    return kExitOk;
  }
  for (const char* required : {"table-type", "host", "new-database"}) {
    if (!parsed->Has(required)) return UsageError(absl::StrCat("--", required, " is required"));
  }
  auto type = pg::ParseTableType(*parsed->Get("table-type"));
  if (!type.ok()) return UsageError(std::string(type.status().message()));

  pg::InitDbRequest request;
  request.type = *type;
  request.new_database = *parsed->Get("new-database");
  request.dry_run = parsed->Has("dry-run");
  request.server.host = *parsed->Get("host");
  request.server.user = parsed->GetOr("user", "");
  request.server.application_name = "slatectl";
  if (auto port = parsed->Get("port")) {
    auto n = ParseIntFlag("port", *port, 1, 65535);
    if (!n.ok()) return UsageError(std::string(n.status().message()));
    request.server.port = static_cast<int>(*n);
  }
  if (auto file = parsed->Get("password-file")) {
    auto secret = ReadSecretFile(*file);
    if (!secret.ok()) {
      std::cerr << "slatectl init-db: " << secret.status().message() << "\n";
      return kExitFailed;
    }
    request.server.password = *secret;
  }

  const absl::Status status = pg::InitDatabase(
      request, [](absl::string_view line) { std::cout << "init-db: " << line << "\n"; });
  if (status.ok()) return kExitOk;
  std::cerr << "slatectl init-db: " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
      return kExitUnreachable;
    default:
      return kExitFailed;
  }
}

}  // namespace slate::ctl
