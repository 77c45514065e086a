#pragma once

// Connection parameters of one PostgreSQL database, as the config describes it. Plain data:
// nothing here connects. ToConnInfo() is for libpq only and contains the password; Describe()
// is what logs, errors and status show, and never contains it.

#include <cstdint>
#include <string>

namespace slate {

struct ConnParams {
  std::string host;
  int port = 5432;
  std::string database;
  std::string user;      // empty: libpq's default (PGUSER, then the OS user)
  std::string password;  // empty: libpq's default (PGPASSWORD, ~/.pgpass)
  std::string sslmode;   // empty: libpq's default ("prefer")
  int connect_timeout_seconds = 15;
  // A call with no answer for this long is interrupted (its socket shut down), so a blackholed
  // peer cannot hold a check or a command for the kernel's TCP timeout. Zero: unbounded.
  int64_t stall_timeout_ms = 60000;
  std::string application_name = "slate-replicator";

  // A libpq keyword/value connection string, every value quoted. Contains the password.
  std::string ToConnInfo() const;
  // "user@host:port/database": for logs, errors and status. Never contains the password.
  std::string Describe() const;
  // Same database under the original tool's naming rules: host and database
  // name compared case-insensitively, and the same port.
  bool SameDatabaseAs(const ConnParams& other) const;
  // The machine the database runs on, as far as its address tells: the host lowercased, and
  // "local" for every name of this machine (empty or a socket directory, localhost, 127.0.0.0/8,
  // ::1). Two names of one remote machine are two keys.
  std::string MachineKey() const;
};

// Quotes a libpq connection-string value: 'value' with backslash and quote escaped.
std::string QuoteConnInfoValue(const std::string& value);

}  // namespace slate
