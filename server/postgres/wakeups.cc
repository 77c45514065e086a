// The wake-up source: LISTEN eventsinsert on the source (adapters.h).

#include <poll.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

#include "server/common/status_macros.h"
#include "server/postgres/adapters.h"
#include "server/postgres/pg_conn.h"
#include "server/postgres/schema.h"

namespace slate::pg {
namespace {

class PgWakeupSource : public core::WakeupSource {
 public:
  PgWakeupSource(ConnParams params, std::string what)
      : params_(std::move(params)), what_(std::move(what)) {}

  absl::Status Connect() override {
    RETURN_IF_ERROR(conn_.Open(params_, what_));
    absl::Status s = conn_.Exec(absl::StrCat("LISTEN ", kNotifyChannel));
    if (!s.ok()) conn_.Close();
    return s;
  }
  void Close() override { conn_.Close(); }
  void Interrupt() override { conn_.Interrupt(); }
  // Notifications arriving meanwhile are kept by libpq for the next Wait().
  absl::Status Ping() override { return conn_.Exec("SELECT 1"); }

  absl::StatusOr<std::vector<std::string>> Wait(absl::Duration timeout) override {
    if (!conn_.is_open()) return absl::UnavailableError(absl::StrCat(what_, ": not connected"));
    std::vector<std::string> out;
    // What libpq has read already (arrived with an earlier answer) is taken without a system
    // call; otherwise poll() says when there is more (a read first would mostly find nothing).
    Drain(&out);
    if (!out.empty()) return out;
    pollfd pfd{PQsocket(conn_.get()), POLLIN, 0};
    const int rc = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (rc < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat(what_, ": poll: ", std::strerror(errno)));
    }
    if (rc > 0) {
      RETURN_IF_ERROR(Collect(&out));
    }
    return out;
  }

 private:
  absl::Status Collect(std::vector<std::string>* out) {
    if (PQconsumeInput(conn_.get()) != 1 || PQstatus(conn_.get()) != CONNECTION_OK) {
      return absl::UnavailableError(
          absl::StrCat(what_, ": notification connection lost: ", PQerrorMessage(conn_.get())));
    }
    Drain(out);
    return absl::OkStatus();
  }
  void Drain(std::vector<std::string>* out) {
    while (PGnotify* n = PQnotifies(conn_.get())) {
      out->emplace_back(n->extra != nullptr ? n->extra : "");
      PQfreemem(n);
    }
  }

  ConnParams params_;
  std::string what_;
  PgConn conn_;
};

}  // namespace

std::unique_ptr<core::WakeupSource> NewWakeupSource(const ConnParams& params,
                                                    const std::string& what) {
  return std::make_unique<PgWakeupSource>(params, what);
}

}  // namespace slate::pg
