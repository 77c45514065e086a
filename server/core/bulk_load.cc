#include "server/core/bulk_load.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

#include "server/common/log.h"

namespace slate::core {

bool ShouldBulkLoad(int64_t threshold, int64_t position, int64_t backlog) {
  return threshold > 0 && position == 0 && backlog >= threshold;
}

BulkLoad::BulkLoad(const EngineOptions& options, DestinationIndexesFactory factory,
                   Signals& signals, uint64_t lane, DestinationReport& report)
    : options_(options),
      factory_(std::move(factory)),
      signals_(signals),
      lane_(lane),
      report_(report) {}

absl::StatusOr<std::vector<std::string>> BulkLoad::WithSession(
    const std::function<absl::StatusOr<std::vector<std::string>>(DestinationIndexes&)>& f) {
  std::unique_ptr<DestinationIndexes> session = factory_();
  if (absl::Status s = session->Connect(); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> result = f(*session);
  session->Close();
  return result;
}

absl::Status BulkLoad::Resume() {
  considered_ = false;
  if (!factory_) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> pending =
      WithSession([](DestinationIndexes& d) { return d.Pending(); });
  if (!pending.ok()) return pending.status();
  const bool resumed = pending_.empty() && !pending->empty();
  pending_ = *std::move(pending);
  if (pending_.empty()) {
    total_ = 0;
    report_.Phase(BulkPhase{});
    return absl::OkStatus();
  }
  total_ = std::max<int64_t>(total_, static_cast<int64_t>(pending_.size()));
  if (resumed) {
    log::Info(
        report_.log(), "bulk load under way (set aside by an earlier run): finishing it",
        {{"destination", report_.name()}, {"indexes_set_aside", absl::StrJoin(pending_, ",")}});
  }
  report_.Phase(
      BulkPhase{"bulk_loading", {}, total_ - static_cast<int64_t>(pending_.size()), total_});
  return absl::OkStatus();
}

absl::Status BulkLoad::MaybeBegin(int64_t position, int64_t backlog) {
  if (!factory_ || considered_ || loading()) return absl::OkStatus();
  if (!ShouldBulkLoad(options_.bulk_load_threshold, position, backlog)) {
    considered_ = position != 0;  // an empty destination may yet get a large backlog
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> set_aside =
      WithSession([](DestinationIndexes& d) { return d.SetAside(); });
  if (set_aside.status().code() == absl::StatusCode::kPermissionDenied) {
    considered_ = true;
    log::Info(report_.log(), "bulk load not possible: copying with the indexes in place",
              {{"destination", report_.name()},
               {"backlog", backlog},
               {"reason", std::string(set_aside.status().message())}});
    return absl::OkStatus();
  }
  if (!set_aside.ok()) return set_aside.status();
  considered_ = true;
  pending_ = *std::move(set_aside);
  total_ = static_cast<int64_t>(pending_.size());
  if (pending_.empty()) return absl::OkStatus();  // no secondary index: nothing to gain
  log::Info(report_.log(), "bulk load: secondary indexes set aside until the backlog is copied",
            {{"destination", report_.name()},
             {"backlog", backlog},
             {"indexes_set_aside", absl::StrJoin(pending_, ",")}});
  report_.Phase(BulkPhase{"bulk_loading", {}, 0, total_});
  return absl::OkStatus();
}

void BulkLoad::ShowPhase(const std::vector<std::string>& building, int64_t built) {
  report_.Phase(BulkPhase{"building_indexes", building, built, total_});
}

namespace {

// The builds' shared state: a queue of names, handed to the sessions in turn.
struct Builds {
  absl::Mutex mu;
  std::deque<std::string> queue ABSL_GUARDED_BY(mu);
  std::vector<std::string> building ABSL_GUARDED_BY(mu);
  std::vector<std::string> built ABSL_GUARDED_BY(mu);
  int running ABSL_GUARDED_BY(mu) = 0;
  uint64_t changes ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;
  absl::Status error ABSL_GUARDED_BY(mu);
};

void BuildWorker(Builds& b, DestinationIndexes& session) {
  absl::Status s = session.Connect();
  while (true) {
    std::string name;
    {
      absl::MutexLock lock(&b.mu);
      if (!s.ok() && b.error.ok()) b.error = s;
      if (!s.ok() || b.stop || !b.error.ok() || b.queue.empty()) break;
      name = b.queue.front();
      b.queue.pop_front();
      b.building.push_back(name);
      ++b.changes;
    }
    s = session.Build(name);
    absl::MutexLock lock(&b.mu);
    b.building.erase(std::find(b.building.begin(), b.building.end(), name));
    if (s.ok()) {
      b.built.push_back(name);
    } else {
      b.queue.push_front(name);
    }
    ++b.changes;
  }
  session.Close();
  absl::MutexLock lock(&b.mu);
  --b.running;
  ++b.changes;
}

}  // namespace

absl::StatusOr<bool> BulkLoad::BuildAll(int64_t position) {
  if (!loading()) return true;
  const Clock& clock = signals_.clock();
  const absl::Time start = clock.Now();
  const int64_t built_before = total_ - static_cast<int64_t>(pending_.size());
  const size_t sessions =
      std::min(pending_.size(), static_cast<size_t>(std::max(1, options_.index_build_sessions)));
  log::Info(report_.log(), "building the indexes set aside",
            {{"destination", report_.name()},
             {"position", position},
             {"indexes", absl::StrJoin(pending_, ",")},
             {"sessions", static_cast<int64_t>(sessions)}});
  std::vector<std::unique_ptr<DestinationIndexes>> each;
  for (size_t i = 0; i < sessions; ++i) each.push_back(factory_());
  Builds b;
  {
    absl::MutexLock lock(&b.mu);
    b.queue.assign(pending_.begin(), pending_.end());
    b.running = static_cast<int>(sessions);
  }
  std::vector<std::thread> threads;
  for (auto& session : each) threads.emplace_back(BuildWorker, std::ref(b), std::ref(*session));
  bool stopped = false;
  uint64_t shown = ~uint64_t{0};
  {
    absl::MutexLock lock(&b.mu);
    while (b.running > 0) {
      if (b.changes != shown) {
        shown = b.changes;
        ShowPhase(b.building, built_before + static_cast<int64_t>(b.built.size()));
      }
      report_.Heartbeat(clock.Now());  // the loop is alive: each build is one long call
      if (!stopped && signals_.stopping(lane_)) {
        stopped = true;
        b.stop = true;
        for (auto& session : each) session->Interrupt();  // their builds roll back
      }
      // Woken by any change; the bound keeps a stop (not signalled here) prompt.
      const uint64_t seen = b.changes;
      auto changed = [&b, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(b.mu) { return b.changes != seen; };
      clock.AwaitUntil(b.mu, absl::Condition(&changed), clock.Now() + options_.listen_wait);
    }
  }
  for (auto& t : threads) t.join();
  {
    absl::MutexLock lock(&b.mu);
    for (const std::string& name : b.built) {
      pending_.erase(std::find(pending_.begin(), pending_.end(), name));
    }
    if (stopped) return false;
    if (!b.error.ok()) return b.error;
  }
  // The record, empty now, ends; what it says is the truth either way.
  absl::StatusOr<std::vector<std::string>> left =
      WithSession([](DestinationIndexes& d) { return d.Pending(); });
  if (!left.ok()) return left.status();
  pending_ = *std::move(left);
  if (!pending_.empty()) return absl::UnavailableError("index builds did not finish");
  log::Info(report_.log(), "indexes built: the destination has its whole index set again",
            {{"destination", report_.name()},
             {"position", position},
             {"indexes", total_},
             {"seconds", absl::ToDoubleSeconds(clock.Now() - start)}});
  report_.Phase(BulkPhase{});
  total_ = 0;
  return true;
}

}  // namespace slate::core
