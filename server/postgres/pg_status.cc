#include "server/postgres/pg_status.h"

#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <pqxx/pqxx>

namespace slate::pg {
namespace {

std::string Clean(absl::string_view message) {
  return std::string(absl::StripAsciiWhitespace(message));
}

}  // namespace

absl::Status StatusFromSqlState(absl::string_view sqlstate, absl::string_view message,
                                absl::string_view context) {
  const std::string text =
      sqlstate.empty() ? absl::StrCat(context, ": ", Clean(message))
                       : absl::StrCat(context, ": ", Clean(message), " (SQLSTATE ", sqlstate, ")");
  if (absl::StartsWith(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03" || absl::StartsWith(sqlstate, "53")) {
    return absl::UnavailableError(text);
  }
  if (absl::StartsWith(sqlstate, "40")) return absl::AbortedError(text);
  if (sqlstate.empty()) return absl::UnavailableError(text);  // libpq-level: no server answer
  return absl::FailedPreconditionError(text);
}

bool IsDefinitiveConnectFailure(absl::string_view message) {
  static constexpr absl::string_view kDefinitive[] = {
      "password authentication failed",
      "no pg_hba.conf entry",
      "no password supplied",
      "does not exist",  // database "x" / role "x"
      "SSL was required",
      "server does not support SSL",
      "certificate",
      "permission denied",
  };
  for (absl::string_view d : kDefinitive) {
    if (absl::StrContains(message, d)) return true;
  }
  return false;
}

absl::Status StatusFromCurrentException(absl::string_view context) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnknownError(absl::StrCat(context, ": commit outcome unknown: ", Clean(e.what())));
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat(context, ": ", Clean(e.what())));
  } catch (const pqxx::sql_error& e) {
    return StatusFromSqlState(e.sqlstate(), e.what(), context);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(context, ": ", Clean(e.what())));
  } catch (...) {
    return absl::InternalError(absl::StrCat(context, ": unknown exception"));
  }
}

}  // namespace slate::pg
