#pragma once

// One read of the source for every destination that keeps pace.
//
// During a catch-up each destination would otherwise stream the same rows from the source with
// its own COPY. A SourceFeed runs one such stream on its own thread into a bounded buffer; each
// destination's large reads join it when their position lies in the buffered range, and copy rows
// out as their destination takes them. The buffer advances as the slowest joined destination
// does, so destinations that keep pace with each other share one read. One that stays a whole
// buffer behind the fastest for longer than a grace period (a slow or stalled destination) is
// detached and goes on with its
// own read from where it was, so it never holds the others back; nothing else changes for it.
// A joined read ends with its own (usually empty) read after the stream's end, so it sees every
// row committed before it began, as any read does.
// Small reads (live events) and bounded reads always use the destination's own source.
//
// Thread-safe. The feed's source is used only by the feed's thread (and Interrupt()).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/interfaces.h"

namespace slate::core {

class SourceFeed : public std::enable_shared_from_this<SourceFeed> {
 public:
  // `source` is the feed's own connection; `capacity_bytes` bounds the buffer; reads expecting
  // more than `min_rows` rows use the feed; a read a whole buffer behind a waiting one for longer
  // than `detach_grace` is detached. A new stream keeps its first rows for the destinations that
  // have not joined it yet for up to `join_grace` (destinations that start together rarely make
  // their first read at the same moment: one that comes a little later still shares the read).
  static std::shared_ptr<SourceFeed> Create(std::unique_ptr<EventSource> source,
                                            size_t capacity_bytes, int64_t min_rows,
                                            absl::Duration detach_grace,
                                            absl::Duration join_grace = absl::ZeroDuration());
  ~SourceFeed();

  // A destination's source: everything goes to `own`, except large reads, which join the feed
  // when they can.
  std::unique_ptr<EventSource> NewSharedSource(std::unique_ptr<EventSource> own);

  // For tests and status: how many streams the feed started, and how many reads were detached.
  int64_t streams_started() const;
  int64_t detaches() const;

  struct Consumer;  // one joined read (source_feed.cc)

 private:
  SourceFeed(std::unique_ptr<EventSource> source, size_t capacity_bytes, int64_t min_rows,
             absl::Duration detach_grace, absl::Duration join_grace);
  friend class SharedSource;
  friend class FeedReader;

  struct Row {
    int64_t id;
    int64_t ts;
    std::string encoded;
  };

  // Joins the feed at rows after `after_id`; null when it cannot (the caller reads on its own).
  std::shared_ptr<Consumer> Join(int64_t after_id);
  void Leave(const std::shared_ptr<Consumer>& c);
  void InterruptStream();
  void Run();  // the feed's thread
  void StreamFrom(int64_t after_id);
  // Drops rows every joined consumer has copied (none while the stream's start is held).
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stream's first rows are kept: some shared source has not joined this stream yet, within
  // the join grace.
  bool HoldingStartLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unregister();  // a shared source is gone
  uint64_t MinNextSeqLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A joined read waits for a row the stream has not read yet.
  bool StarvingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<EventSource> source_;
  const size_t capacity_bytes_;
  const int64_t min_rows_;
  const absl::Duration detach_grace_;
  const absl::Duration join_grace_;
  mutable absl::Mutex mu_;
  std::deque<Row> buf_ ABSL_GUARDED_BY(mu_);
  uint64_t base_seq_ ABSL_GUARDED_BY(mu_) = 0;  // sequence number of buf_.front()
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool active_ ABSL_GUARDED_BY(mu_) = false;  // a stream is running or draining
  bool start_ ABSL_GUARDED_BY(mu_) = false;   // the thread should start a stream
  bool ended_ ABSL_GUARDED_BY(mu_) = false;   // the stream read its snapshot to the end
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // the stream failed
  int64_t stream_after_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_read_id_ ABSL_GUARDED_BY(mu_) = 0;  // the stream's newest row (or stream_after_)
  std::vector<std::shared_ptr<Consumer>> consumers_ ABSL_GUARDED_BY(mu_);
  int64_t streams_started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t detaches_ ABSL_GUARDED_BY(mu_) = 0;
  int sources_ ABSL_GUARDED_BY(mu_) = 0;        // shared sources alive
  int joined_stream_ ABSL_GUARDED_BY(mu_) = 0;  // reads that joined the current stream
  absl::Time stream_started_ ABSL_GUARDED_BY(mu_);
  bool alone_logged_ ABSL_GUARDED_BY(mu_) = false;  // a read that could not join was logged
  std::thread thread_;
};

}  // namespace slate::core
