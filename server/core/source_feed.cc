#include "server/core/source_feed.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "server/common/log.h"

namespace slate::core {

struct SourceFeed::Consumer {
  uint64_t next_seq = 0;     // the next row to copy out
  int64_t last_id = 0;       // the last row copied out (the read's after_id to start with)
  bool detached = false;     // fell too far behind: goes on with its own read
  bool interrupted = false;  // its destination's watchdog interrupted it
  bool waiting = false;      // waiting for a row the stream has not read yet
};

// A large read joined to the feed; detached, it goes on with the destination's own source.
class FeedReader : public RowReader {
 public:
  FeedReader(std::shared_ptr<SourceFeed> feed, std::shared_ptr<SourceFeed::Consumer> consumer,
             EventSource& own)
      : feed_(std::move(feed)), consumer_(std::move(consumer)), own_(own) {}
  ~FeedReader() override { Leave(); }

  absl::StatusOr<bool> Next(EventRow* row) override;

  void Leave() {
    if (consumer_ != nullptr) feed_->Leave(consumer_);
    consumer_ = nullptr;
  }

 private:
  std::shared_ptr<SourceFeed> feed_;
  std::shared_ptr<SourceFeed::Consumer> consumer_;
  EventSource& own_;
  std::unique_ptr<RowReader> rest_;  // the own read after a detach
  std::string encoded_;
};

// A destination's source: its own connection, and the feed for large reads.
class SharedSource : public EventSource {
 public:
  SharedSource(std::shared_ptr<SourceFeed> feed, std::unique_ptr<EventSource> own)
      : feed_(std::move(feed)), own_(std::move(own)) {}
  ~SharedSource() override { feed_->Unregister(); }

  absl::Status Connect() override { return own_->Connect(); }
  void Close() override { own_->Close(); }
  void Interrupt() override {
    own_->Interrupt();
    absl::MutexLock lock(&mu_);
    if (consumer_ == nullptr) return;
    bool waiting = false;
    {
      absl::MutexLock feed_lock(&feed_->mu_);
      waiting = consumer_->waiting;
      if (waiting) consumer_->interrupted = true;
    }
    // Stalled waiting on the shared stream: the stream stalls every joined read, so end it (they
    // fail and retry). A destination stalled in its own writes leaves the stream alone.
    if (waiting) feed_->InterruptStream();
  }
  absl::StatusOr<SourceHead> Head() override { return own_->Head(); }
  absl::StatusOr<std::optional<FirstEvent>> First() override { return own_->First(); }

  absl::StatusOr<std::unique_ptr<RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                       int64_t expected_rows) override {
    if (up_to_id == 0 && expected_rows > feed_->min_rows_) {
      std::shared_ptr<SourceFeed::Consumer> c = feed_->Join(after_id);
      if (c != nullptr) {
        absl::MutexLock lock(&mu_);
        consumer_ = c;
        return std::unique_ptr<RowReader>(new FeedReader(feed_, c, *own_));
      }
    }
    return own_->ReadAfter(after_id, up_to_id, expected_rows);
  }

 private:
  std::shared_ptr<SourceFeed> feed_;
  std::unique_ptr<EventSource> own_;
  absl::Mutex mu_;
  std::shared_ptr<SourceFeed::Consumer> consumer_ ABSL_GUARDED_BY(mu_);  // the latest joined read
};

absl::StatusOr<bool> FeedReader::Next(EventRow* row) {
  if (rest_ != nullptr) return rest_->Next(row);
  if (consumer_ == nullptr) return false;
  SourceFeed& f = *feed_;
  SourceFeed::Consumer& c = *consumer_;
  bool ended = false;
  {
    absl::MutexLock lock(&f.mu_);
    c.waiting = true;
    auto ready = [&f, &c]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.mu_) {
      return c.detached || c.interrupted || !f.error_.ok() || f.ended_ ||
             c.next_seq < f.base_seq_ + f.buf_.size();
    };
    f.mu_.Await(absl::Condition(&ready));
    c.waiting = false;
    if (c.interrupted) {
      return absl::UnavailableError("source: the shared read was interrupted (no progress)");
    }
    if (!c.detached && c.next_seq < f.base_seq_ + f.buf_.size()) {
      const SourceFeed::Row& r = f.buf_[c.next_seq - f.base_seq_];
      encoded_.assign(r.encoded);
      row->id = r.id;
      row->ts = r.ts;
      row->encoded = encoded_;
      c.last_id = r.id;
      ++c.next_seq;
      return true;
    }
    if (!c.detached && !f.error_.ok()) return f.error_;
    ended = !c.detached;  // ended_, and every row copied: the stream's snapshot is done
  }
  // Detached, or the stream's snapshot is done: go on from the last row copied with this
  // destination's own read. After the end that read is usually empty, but its snapshot is newer
  // than this pass's start, so every wake-up before the pass is served by it.
  const int64_t after = c.last_id;
  Leave();
  auto rest = own_.ReadAfter(after, 0, ended ? 1 : 0);
  if (!rest.ok()) return rest.status();
  rest_ = std::move(*rest);
  return rest_->Next(row);
}

std::shared_ptr<SourceFeed> SourceFeed::Create(std::unique_ptr<EventSource> source,
                                               size_t capacity_bytes, int64_t min_rows,
                                               absl::Duration detach_grace,
                                               absl::Duration join_grace) {
  std::shared_ptr<SourceFeed> feed(
      new SourceFeed(std::move(source), capacity_bytes, min_rows, detach_grace, join_grace));
  feed->thread_ = std::thread([raw = feed.get()] { raw->Run(); });
  return feed;
}

SourceFeed::SourceFeed(std::unique_ptr<EventSource> source, size_t capacity_bytes, int64_t min_rows,
                       absl::Duration detach_grace, absl::Duration join_grace)
    : source_(std::move(source)),
      capacity_bytes_(capacity_bytes),
      min_rows_(min_rows),
      detach_grace_(detach_grace),
      join_grace_(join_grace) {}

SourceFeed::~SourceFeed() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  source_->Interrupt();
  if (thread_.joinable()) thread_.join();
  source_->Close();
}

std::unique_ptr<EventSource> SourceFeed::NewSharedSource(std::unique_ptr<EventSource> own) {
  {
    absl::MutexLock lock(&mu_);
    ++sources_;
  }
  return std::make_unique<SharedSource>(shared_from_this(), std::move(own));
}

void SourceFeed::Unregister() {
  absl::MutexLock lock(&mu_);
  --sources_;
}

int64_t SourceFeed::streams_started() const {
  absl::MutexLock lock(&mu_);
  return streams_started_;
}

int64_t SourceFeed::detaches() const {
  absl::MutexLock lock(&mu_);
  return detaches_;
}

std::shared_ptr<SourceFeed::Consumer> SourceFeed::Join(int64_t after_id) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return nullptr;
  auto c = std::make_shared<Consumer>();
  c->last_id = after_id;
  if (!active_) {
    // Start a stream at this read's position.
    buf_.clear();
    bytes_ = 0;
    base_seq_ = 0;
    ended_ = false;
    error_ = absl::OkStatus();
    stream_after_ = after_id;
    last_read_id_ = after_id;
    active_ = true;
    start_ = true;
    ++streams_started_;
    joined_stream_ = 1;
    stream_started_ = absl::Now();
    alone_logged_ = false;
    c->next_seq = 0;
    consumers_.push_back(c);
    return c;
  }
  auto alone = [&](const char* why) -> std::shared_ptr<Consumer> {
    // Once per stream as info (it means another read of the source); repeats at debug.
    log::Write(*log::Get("engine"), alone_logged_ ? spdlog::level::debug : spdlog::level::info,
               "a large read cannot join the shared read of the source",
               {{"after_id", after_id},
                {"why", why},
                {"stream_first_id", buf_.empty() ? last_read_id_ + 1 : buf_.front().id},
                {"stream_last_id", last_read_id_}});
    alone_logged_ = true;
    return nullptr;
  };
  if (!error_.ok()) return alone("the shared read failed");
  if (ended_) return alone("the shared read is ending");
  // Join a running stream only where it still holds the rows after `after_id`.
  if (after_id > last_read_id_) return alone("it is ahead of the shared read");
  if (buf_.empty()) {
    if (after_id != last_read_id_) return alone("the shared read is past it");
    c->next_seq = base_seq_;
  } else {
    if (buf_.front().id > after_id + 1) return alone("the shared read is past it");
    auto it = std::upper_bound(buf_.begin(), buf_.end(), after_id,
                               [](int64_t id, const Row& r) { return id < r.id; });
    c->next_seq = base_seq_ + static_cast<uint64_t>(it - buf_.begin());
  }
  ++joined_stream_;
  consumers_.push_back(c);
  return c;
}

void SourceFeed::Leave(const std::shared_ptr<Consumer>& c) {
  absl::MutexLock lock(&mu_);
  consumers_.erase(std::remove(consumers_.begin(), consumers_.end(), c), consumers_.end());
  TrimLocked();
}

void SourceFeed::InterruptStream() { source_->Interrupt(); }

uint64_t SourceFeed::MinNextSeqLocked() const {
  uint64_t min = base_seq_ + buf_.size();
  for (const auto& c : consumers_) {
    if (!c->detached) min = std::min(min, c->next_seq);
  }
  return min;
}

bool SourceFeed::StarvingLocked() const {
  const uint64_t head = base_seq_ + buf_.size();
  return std::any_of(consumers_.begin(), consumers_.end(), [head](const auto& c) {
    return !c->detached && c->waiting && c->next_seq == head;
  });
}

bool SourceFeed::HoldingStartLocked() const {
  return joined_stream_ < sources_ && absl::Now() - stream_started_ < join_grace_;
}

void SourceFeed::TrimLocked() {
  if (HoldingStartLocked()) return;
  const uint64_t min = MinNextSeqLocked();
  while (!buf_.empty() && base_seq_ < min) {
    bytes_ -= buf_.front().encoded.size();
    buf_.pop_front();
    ++base_seq_;
  }
}

void SourceFeed::Run() {
  while (true) {
    int64_t after = 0;
    {
      absl::MutexLock lock(&mu_);
      auto go = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return start_ || shutdown_; };
      mu_.Await(absl::Condition(&go));
      if (shutdown_) return;
      start_ = false;
      after = stream_after_;
    }
    StreamFrom(after);
    // Drain: the stream is over (or failed); wait until every joined read has left, then let
    // the next read start a new stream.
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return consumers_.empty() || shutdown_;
    };
    mu_.Await(absl::Condition(&drained));
    active_ = false;
    buf_.clear();
    bytes_ = 0;
    if (shutdown_) return;
  }
}

void SourceFeed::StreamFrom(int64_t after_id) {
  auto fail = [this](absl::Status s) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(s);
  };
  if (absl::Status s = source_->Connect(); !s.ok()) return fail(s);
  auto reader = source_->ReadAfter(after_id, 0, 0);
  if (!reader.ok()) return fail(reader.status());
  EventRow row;
  while (true) {
    auto more = (*reader)->Next(&row);
    if (!more.ok()) {
      source_->Close();  // the next stream reconnects
      return fail(more.status());
    }
    absl::MutexLock lock(&mu_);
    if (!*more) {
      ended_ = true;
      return;
    }
    // Room for the row, once every joined read has copied out what is in front of it. When the
    // buffer is full while a read waits at its end, the reads at its start are a whole buffer
    // behind. Short spells of that are normal (a destination's socket buffers fill while it
    // commits a batch); past the grace period they are detached (they go on with their own
    // reads) rather than holding the others back.
    std::optional<absl::Time> starving_since;
    while (true) {
      TrimLocked();
      if (shutdown_ || consumers_.empty()) return;  // nobody left to read for
      if (buf_.empty() || bytes_ + row.encoded.size() <= capacity_bytes_) break;
      if (HoldingStartLocked()) {
        // Full, with the stream's first rows kept for a destination yet to join: wait for it
        // (or the end of the grace), judging no read meanwhile.
        const int joined = joined_stream_;
        auto changed = [this, joined]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return shutdown_ || consumers_.empty() || joined_stream_ != joined;
        };
        mu_.AwaitWithTimeout(absl::Condition(&changed),
                             join_grace_ - (absl::Now() - stream_started_));
        continue;
      }
      const bool starving = StarvingLocked();
      if (!starving) starving_since.reset();
      if (starving && !starving_since) starving_since = absl::Now();
      if (starving && absl::Now() - *starving_since < detach_grace_) {
        const uint64_t before = MinNextSeqLocked();
        auto moved = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return shutdown_ || consumers_.empty() || MinNextSeqLocked() != before;
        };
        mu_.AwaitWithTimeout(absl::Condition(&moved),
                             detach_grace_ - (absl::Now() - *starving_since));
        continue;
      }
      if (starving) {
        // The buffer is full and non-empty, so the slowest reads are behind the starving one.
        const uint64_t slowest = MinNextSeqLocked();
        for (auto& c : consumers_) {
          if (!c->detached && c->next_seq == slowest) {
            c->detached = true;
            ++detaches_;
            log::Info(*log::Get("engine"),
                      "a destination fell a whole shared buffer behind the others; it reads the "
                      "source on its own from here",
                      {{"after_id", c->last_id}, {"buffer_bytes", static_cast<int64_t>(bytes_)}});
          }
        }
        starving_since.reset();
        continue;
      }
      const uint64_t before = MinNextSeqLocked();
      auto moved = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_ || consumers_.empty() || MinNextSeqLocked() != before || StarvingLocked();
      };
      mu_.Await(absl::Condition(&moved));
    }
    buf_.push_back(Row{row.id, row.ts, std::string(row.encoded)});
    bytes_ += row.encoded.size();
    last_read_id_ = row.id;
  }
}

}  // namespace slate::core
