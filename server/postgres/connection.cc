#include "server/postgres/connection.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace slate::pg {

std::string ConnInfo(const ConnParams& params) {
  return absl::StrCat(params.ToConnInfo(),
                      " keepalives=1 keepalives_idle=10 keepalives_interval=5 keepalives_count=3");
}

absl::Duration CallLimit(const ConnParams& params) {
  return params.stall_timeout_ms > 0 ? absl::Milliseconds(params.stall_timeout_ms)
                                     : absl::InfiniteDuration();
}

CallDeadline::CallDeadline(int fd, absl::Duration limit) {
  if (fd < 0 || limit == absl::InfiniteDuration()) return;
  timer_ = std::make_unique<std::thread>([this, fd, limit] {
    if (done_.WaitForNotificationWithTimeout(limit)) return;
    fired_ = true;
    shutdown(fd, SHUT_RDWR);
  });
}

CallDeadline::~CallDeadline() {
  done_.Notify();
  if (timer_) timer_->join();
}

absl::StatusOr<std::unique_ptr<PqxxSession>> PqxxSession::Open(const ConnParams& params,
                                                               const std::string& what) {
  std::unique_ptr<pqxx::connection> conn;
  // connect_timeout bounds the connect itself.
  absl::Status s = Guard(absl::StrCat("connecting to ", what),
                         [&] { conn = std::make_unique<pqxx::connection>(ConnInfo(params)); });
  if (!s.ok()) return s;
  return std::unique_ptr<PqxxSession>(new PqxxSession(std::move(conn), what, CallLimit(params)));
}

absl::Status PqxxSession::Stalled(absl::string_view context) const {
  return absl::UnavailableError(absl::StrCat(
      what_, ": ", context, ": no answer within ", absl::FormatDuration(limit_),
      " (stallTimeout); the connection was interrupted. Check the network path to the database"));
}

}  // namespace slate::pg
