// The read-your-writes wait, measured (tests/bench/bench.py runs it; not a test): a client writes
// one source transaction through insert_events, takes the id it was handed, and calls
// WaitForPosition for it, `--samples` times, while `--idle-waiters` other calls wait for an id
// far ahead the whole time. Per sample it reports, in milliseconds:
//   after_commit  the answer's arrival - the destination commit it reports (the slowest
//                 destination's; its time from the bench's deferred arrival trigger, table arrival)
//   end_to_end    the answer's arrival - the source commit returning to the writer
// and, for the idle waiters, the transactions the databases committed and the copy passes the
// replicator ran during a quiet 10 s before, with and after them (a waiter must cost no query).
// Output: one JSON object on stdout.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <grpcpp/grpcpp.h>
#include <pqxx/pqxx>

#include "slate/replicator/v1/replicator.grpc.pb.h"

namespace v1 = ::slate::replicator::v1;

namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double k = static_cast<double>(v.size() - 1) * p / 100.0;
  const size_t lo = static_cast<size_t>(k);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (k - static_cast<double>(lo));
}

long long Commits(const std::vector<std::string>& conninfos) {
  long long total = 0;
  for (const std::string& c : conninfos) {
    pqxx::connection conn(c);
    pqxx::work w(conn);
    total +=
        w.exec1("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0]
            .as<long long>();
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server;
  std::string source;
  std::vector<std::string> dests;
  int samples = 200;
  int idle = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--server") server = value;
    if (flag == "--source") source = value;
    if (flag == "--dest") dests.push_back(value);
    if (flag == "--samples") (void)absl::SimpleAtoi(value, &samples);
    if (flag == "--idle-waiters") (void)absl::SimpleAtoi(value, &idle);
  }
  if (server.empty() || source.empty() || dests.empty()) {
    std::cerr << "usage: slate_wait_bench --server HOST:PORT --source CONNINFO --dest CONNINFO "
                 "[--dest ...] [--samples N] [--idle-waiters N]\n";
    return 2;
  }
  auto stub = v1::ReplicatorService::NewStub(
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  pqxx::connection src(source);
  std::vector<std::unique_ptr<pqxx::connection>> dst;
  for (const std::string& d : dests) dst.push_back(std::make_unique<pqxx::connection>(d));

  // The databases' transactions over a quiet 10 s: before, with and after the idle waiters.
  std::vector<std::string> all = dests;
  all.push_back(source);
  // The replicator's own copy passes (each a query or more) over the same window.
  auto passes = [&] {
    v1::GetStatusResponse status;
    grpc::ClientContext ctx;
    (void)stub->GetStatus(&ctx, v1::GetStatusRequest(), &status);
    return status.source().passes_total();
  };
  long long last_passes = 0;
  auto quiet = [&] {
    const long long before = Commits(all);
    const long long passes_before = passes();
    std::this_thread::sleep_for(std::chrono::seconds(10));  // two polls (pollInterval 5 s)
    last_passes = passes() - passes_before;
    return Commits(all) - before - static_cast<long long>(all.size());  // less our own reads
  };
  const long long quiet_without = quiet();
  const long long passes_without = last_passes;

  grpc::CompletionQueue cq;
  struct Idle {
    grpc::ClientContext context;
    v1::WaitForPositionResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::WaitForPositionResponse>> reader;
  };
  std::vector<std::unique_ptr<Idle>> idlers;
  for (int i = 0; i < idle; ++i) {
    auto w = std::make_unique<Idle>();
    v1::WaitForPositionRequest req;
    req.set_id(int64_t{1} << 60);
    req.mutable_timeout()->set_seconds(3600);
    w->reader = stub->AsyncWaitForPosition(&w->context, req, &cq);
    w->reader->Finish(&w->response, &w->status, w.get());
    idlers.push_back(std::move(w));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // every call has reached the server
  const long long quiet_with = quiet();
  const long long passes_with = last_passes;

  std::vector<double> after_commit;
  std::vector<double> end_to_end;
  for (int i = 0; i < samples; ++i) {
    long long id = 0;
    {
      pqxx::work w(src);
      w.exec("SELECT insert_events('($1[1], $2, ''{\"entityName\": \"wait\", \"n\": " +
             std::to_string(i) + "}'')')");
      // The id table holds the next id, and its lock until commit: ours is the one before it.
      id = w.exec1("SELECT id - 1 FROM id")[0].as<long long>();
      w.commit();
    }
    const double committed = NowSeconds();
    v1::WaitForPositionRequest req;
    req.set_id(id);
    req.mutable_timeout()->set_seconds(30);
    v1::WaitForPositionResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status s = stub->WaitForPosition(&ctx, req, &resp);
    const double answered = NowSeconds();
    if (!s.ok()) {
      std::cerr << "wait failed: " << s.error_message() << "\n";
      return 1;
    }
    double arrived = 0;
    for (auto& d : dst) {
      pqxx::work w(*d);
      const pqxx::row r = w.exec1(
          "SELECT coalesce(extract(epoch FROM max(at)), 0)::float8 FROM arrival WHERE id = " +
          std::to_string(id));
      arrived = std::max(arrived, r[0].as<double>());
    }
    if (arrived == 0) {
      std::cerr << "id " << id << " has no arrival row: is the arrival trigger installed?\n";
      return 1;
    }
    after_commit.push_back((answered - arrived) * 1000);
    end_to_end.push_back((answered - committed) * 1000);
  }
  for (auto& w : idlers) w->context.TryCancel();
  for (size_t i = 0; i < idlers.size(); ++i) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
  }
  cq.Shutdown();
  const long long quiet_after = quiet();
  const long long passes_after = last_passes;
  std::printf(
      "{\"samples\": %d, \"idle_waiters\": %d, \"after_commit_p50_ms\": %.3f, "
      "\"after_commit_p99_ms\": %.3f, \"after_commit_min_ms\": %.3f, \"end_to_end_p50_ms\": %.3f, "
      "\"end_to_end_p99_ms\": %.3f, \"quiet_10s_commits_without_waiters\": %lld, "
      "\"quiet_10s_commits_with_waiters\": %lld, \"quiet_10s_commits_after_waiters\": %lld, "
      "\"quiet_10s_passes_without_waiters\": %lld, \"quiet_10s_passes_with_waiters\": %lld, "
      "\"quiet_10s_passes_after_waiters\": %lld}\n",
      samples, idle, Pct(after_commit, 50), Pct(after_commit, 99),
      *std::min_element(after_commit.begin(), after_commit.end()), Pct(end_to_end, 50),
      Pct(end_to_end, 99), quiet_without, quiet_with, quiet_after, passes_without, passes_with,
      passes_after);
  return 0;
}
