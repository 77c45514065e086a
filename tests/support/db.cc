#include "tests/support/db.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include <pqxx/pqxx>

namespace slate::testing {

Rows Query(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  Rows rows;
  for (const auto& row : r) {
    std::vector<std::string> out;
    for (const auto& field : row) out.push_back(field.is_null() ? "<null>" : field.c_str());
    rows.push_back(std::move(out));
  }
  return rows;
}

std::string QueryValue(const std::string& conninfo, const std::string& sql) {
  Rows rows = Query(conninfo, sql);
  if (rows.size() != 1 || rows[0].size() != 1) {
    throw std::runtime_error(absl::StrCat("expected one value from: ", sql));
  }
  return rows[0][0];
}

long long QueryInt(const std::string& conninfo, const std::string& sql) {
  return std::stoll(QueryValue(conninfo, sql));
}

void Exec(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

void InsertEvents(const std::string& source_conninfo, int count, const std::string& extra) {
  static std::atomic<long long> next{1};
  std::string values;
  for (int k = 1; k <= count; ++k) {
    absl::StrAppend(&values, k > 1 ? ", " : "", "($1[", k,
                    "], $2, '{\"entityName\": \"test\", \"n\": ", next++, extra.empty() ? "" : ", ",
                    extra, "}')");
  }
  pqxx::connection c(source_conninfo);
  pqxx::work tx(c);
  tx.exec_params("SELECT insert_events($1)", values);
  tx.commit();
}

}  // namespace slate::testing
