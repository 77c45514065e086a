#include "server/postgres/dsn.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include <libpq-fe.h>

namespace slate::pg {

absl::StatusOr<ConnParams> ParseDsn(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &err);
  if (options == nullptr) {
    // libpq's message never repeats the password.
    std::string why = err != nullptr ? err : "out of memory";
    if (err != nullptr) PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return absl::InvalidArgumentError(absl::StrCat("not a connection string (", why,
                                                   "): write \"host=H port=P dbname=D user=U\" or "
                                                   "\"postgresql://U@H:P/D\""));
  }
  ConnParams p;
  p.host.clear();
  std::string unsupported;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string key = o->keyword;
    const std::string val = o->val;
    if (key == "host") {
      p.host = val;
    } else if (key == "port") {
      if (!absl::SimpleAtoi(val, &p.port) || p.port < 1 || p.port > 65535) {
        PQconninfoFree(options);
        return absl::InvalidArgumentError(absl::StrCat("port '", val, "' is not a port number"));
      }
    } else if (key == "dbname") {
      p.database = val;
    } else if (key == "user") {
      p.user = val;
    } else if (key == "password") {
      p.password = val;
    } else if (key == "sslmode") {
      p.sslmode = val;
    } else if (key == "connect_timeout" || key == "application_name") {
      // Set the way every connection of this tool sets them.
    } else {
      // PQconninfoParse fills only the keys written in the string.
      unsupported += (unsupported.empty() ? "" : ", ") + key;
    }
  }
  PQconninfoFree(options);
  if (!unsupported.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the connection string sets ", unsupported,
                     ": only host, port, dbname, user, password and sslmode are supported"));
  }
  if (p.host.empty()) p.host = "localhost";
  if (p.database.empty()) {
    return absl::InvalidArgumentError("the connection string names no database (dbname)");
  }
  return p;
}

}  // namespace slate::pg
