// The leader lock: a session advisory lock in the source, on a dedicated session (adapters.h).
//
// The session is told to end itself when it goes quiet (idle_session_timeout): a healthy active
// confirms far more often, while an active whose host vanished (or whose connections are
// blackholed, which no TCP keepalive can tell from a slow peer) stops talking, so the server ends
// its session and releases the lock after that timeout, and a standby takes over. Server-side TCP
// keepalives end it sooner when the peer's host is gone outright.

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "server/common/status_macros.h"
#include "server/postgres/adapters.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/sql.h"

namespace slate::pg {
namespace {

class PgLeaderLock : public core::LeaderLock {
 public:
  PgLeaderLock(ConnParams params, std::string what, LeaderLockOptions options)
      : params_(std::move(params)), what_(std::move(what)), options_(options) {
    // Every call on this session is bounded: a confirmation that does not come back in time is
    // a failed one.
    params_.stall_timeout_ms = absl::ToInt64Milliseconds(options_.call_limit);
  }

  absl::Status Connect() override {
    RETURN_IF_ERROR(conn_.Open(params_, what_, /*bound_calls=*/true));
    absl::Status s =
        conn_.Exec(sql::LeaderSessionSettings(absl::ToInt64Milliseconds(options_.idle_timeout)));
    if (!s.ok()) conn_.Close();
    return s;
  }
  void Close() override { conn_.Close(); }
  void Interrupt() override { conn_.Interrupt(); }

  absl::StatusOr<bool> TryTake() override {
    auto rows = conn_.Query(sql::TryLock(sql::kLeaderLockKey1, options_.group_key));
    if (!rows.ok()) return rows.status();
    return rows->at(0).at(0) == "t";
  }

  absl::Status Confirm() override { return conn_.Exec("SELECT 1"); }

  absl::StatusOr<std::string> Holder() override {
    auto rows = conn_.Query(sql::AdvisoryLockHolder(sql::kLeaderLockKey1, options_.group_key));
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return std::string();
    const auto& r = rows->front();
    return sql::DescribeHolder(r[0], r[1], r[2]);
  }

 private:
  ConnParams params_;
  const std::string what_;
  const LeaderLockOptions options_;
  PgConn conn_;
};

}  // namespace

int GroupKey(const std::string& instance_group, const ConnParams& source,
             const std::vector<ConnParams>& destinations) {
  auto address = [](const ConnParams& p) {
    return absl::StrCat(absl::AsciiStrToLower(p.host), ":", p.port, "/",
                        absl::AsciiStrToLower(p.database));
  };
  std::vector<std::string> dests;
  for (const ConnParams& d : destinations) dests.push_back(address(d));
  std::sort(dests.begin(), dests.end());
  const std::string text = instance_group.empty()
                               ? absl::StrCat(address(source), " -> ", absl::StrJoin(dests, ","))
                               : absl::StrCat("group ", instance_group);
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : text) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return static_cast<int>(h & 0x7fffffffu);
}

std::unique_ptr<core::LeaderLock> NewLeaderLock(const ConnParams& params, const std::string& what,
                                                const LeaderLockOptions& options) {
  return std::make_unique<PgLeaderLock>(params, what, options);
}

}  // namespace slate::pg
