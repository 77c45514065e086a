// The NOTIFY floor, measured (tests/bench/bench.py runs it beside each steady-state window; not a
// test): a bare listener on the source, as tight as a LISTEN client can be, that notes when each
// notification of channel eventsinsert arrives. A replicator woken by NOTIFY cannot deliver a
// source transaction before its notification reaches a client, so these arrival times, against
// the source's commit timestamps, are the floor under its latency.
//
// Usage: slate_notify_floor CONNINFO. Prints "ready" once listening; reads notifications until
// its stdin closes, then prints one line per notification: "<id> <arrival, epoch seconds>".

#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The id of slate's payload {"table" : "events", "id" : 123, "event" : ...}; -1 when absent.
long long PayloadId(const char* payload) {
  const std::string p(payload);
  const size_t key = p.find("\"id\"");
  if (key == std::string::npos) return -1;
  size_t at = p.find(':', key);
  if (at == std::string::npos) return -1;
  return std::strtoll(p.c_str() + at + 1, nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: slate_notify_floor CONNINFO\n");
    return 2;
  }
  PGconn* conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "slate_notify_floor: %s", PQerrorMessage(conn));
    return 1;
  }
  PGresult* res = PQexec(conn, "LISTEN eventsinsert");
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "slate_notify_floor: %s", PQerrorMessage(conn));
    return 1;
  }
  PQclear(res);
  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<std::pair<long long, double>> seen;
  seen.reserve(1 << 20);
  pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {0, POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents != 0) {
      const double at = NowSeconds();
      if (PQconsumeInput(conn) != 1) {
        std::fprintf(stderr, "slate_notify_floor: %s", PQerrorMessage(conn));
        return 1;
      }
      while (PGnotify* n = PQnotifies(conn)) {
        seen.emplace_back(PayloadId(n->extra), at);
        PQfreemem(n);
      }
    }
    if (fds[1].revents != 0) break;  // stdin closed (or written to): the window is over
  }
  for (const auto& [id, at] : seen) std::printf("%lld %.6f\n", id, at);
  PQfinish(conn);
  return 0;
}
