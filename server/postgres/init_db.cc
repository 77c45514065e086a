#include "server/postgres/init_db.h"

#include "absl/strings/str_cat.h"
#include <pqxx/pqxx>

#include "server/common/status_macros.h"
#include "server/postgres/connection.h"

namespace slate::pg {

absl::Status InitDatabase(const InitDbRequest& request,
                          const std::function<void(absl::string_view)>& progress) {
  const std::string& name = request.new_database;
  RETURN_IF_ERROR(ValidateNewDatabaseName(name));

  ConnParams maintenance = request.server;
  if (maintenance.database.empty()) maintenance.database = "postgres";
  ConnParams target = maintenance;
  target.database = name;

  auto session = PqxxSession::Open(maintenance, maintenance.Describe());
  if (!session.ok()) {
    return absl::UnavailableError(
        absl::StrCat(session.status().message(),
                     "; check --host, --port, --user and the password, and that the "
                     "server accepts connections"));
  }
  progress(absl::StrCat("connected to ", maintenance.Describe()));

  pqxx::connection& conn = (*session)->conn();
  bool exists = false;
  absl::Status status = (*session)->Run("looking for an existing database", [&] {
    pqxx::nontransaction tx(conn);
    exists = !tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name).empty();
  });
  if (!status.ok()) return status;
  if (exists) {
    return absl::AlreadyExistsError(absl::StrCat(
        "database ", name, " already exists on ", maintenance.host, ":", maintenance.port,
        "; init-db only creates new databases: choose another --new-database, or drop the old "
        "one first (DROP DATABASE ",
        name, ") if it is a leftover"));
  }
  if (request.dry_run) {
    progress(absl::StrCat("dry run: would create database ", name, " as a slate ",
                          TableTypeName(request.type), "; nothing was changed"));
    return absl::OkStatus();
  }

  status = (*session)->Run(absl::StrCat("creating database ", name), [&] {
    pqxx::nontransaction tx(conn);
    tx.exec0(absl::StrCat("CREATE DATABASE ", tx.quote_name(name)));
  });
  if (!status.ok()) return absl::FailedPreconditionError(status.message());
  progress(absl::StrCat("created database ", name));
  session->reset();

  const std::string creating_schema = absl::StrCat(
      "creating the slate ", TableTypeName(request.type), " schema in ", target.Describe());
  auto schema_session = PqxxSession::Open(target, target.Describe());
  status = schema_session.ok() ? (*schema_session)
                                     ->Run(creating_schema,
                                           [&] {
                                             pqxx::work tx((*schema_session)->conn());
                                             tx.exec0(SchemaSql(request.type));
                                             tx.commit();
                                           })
                               : schema_session.status();
  if (!status.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        status.message(), ". Database ", name, " was created but is empty; drop it (DROP DATABASE ",
        name, ") before running init-db again"));
  }
  progress(absl::StrCat("initialised ", name, " as a slate ", TableTypeName(request.type)));
  return absl::OkStatus();
}

}  // namespace slate::pg
