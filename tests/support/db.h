#pragma once

// SQL helpers for tests (libpqxx). Each call opens its own connection: simple, and tests are
// not where speed matters. Errors throw (pqxx exceptions), which GoogleTest reports.

#include <string>
#include <vector>

namespace slate::testing {

using Rows = std::vector<std::vector<std::string>>;  // NULL reads as "<null>"

Rows Query(const std::string& conninfo, const std::string& sql);
std::string QueryValue(const std::string& conninfo, const std::string& sql);
long long QueryInt(const std::string& conninfo, const std::string& sql);
void Exec(const std::string& conninfo, const std::string& sql);

// Inserts `count` events through insert_events in one call (one source transaction). Each event
// is {"entityName": "test", "n": <k>, ...extra} where k counts up across calls.
void InsertEvents(const std::string& source_conninfo, int count, const std::string& extra = "");

}  // namespace slate::testing
