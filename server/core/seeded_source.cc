#include "server/core/seeded_source.h"

#include <algorithm>
#include <utility>

#include "server/common/log.h"

namespace slate::core {
namespace {

class SeededSource;

// The seed's rows, then the source's after the last of them.
class ChainReader : public RowReader {
 public:
  ChainReader(SeededSource& owner, std::unique_ptr<RowReader> seed, int64_t after_id,
              int64_t up_to_id, int64_t expected_rows)
      : owner_(owner),
        seed_(std::move(seed)),
        last_(after_id),
        up_to_(up_to_id),
        expected_(expected_rows) {}
  ~ChainReader() override { EndSeed(); }

  absl::StatusOr<bool> Next(EventRow* row) override;

 private:
  void EndSeed();

  SeededSource& owner_;
  std::unique_ptr<RowReader> seed_;  // null once the seed's part ended
  std::unique_ptr<RowReader> source_;
  int64_t last_;  // the last id returned
  const int64_t up_to_;
  const int64_t expected_;
  int64_t from_seed_ = 0;
};

class SeededSource : public EventSource {
 public:
  SeededSource(std::unique_ptr<EventSource> source, std::unique_ptr<EventSource> seed,
               SeedOptions options)
      : source_(std::move(source)), seed_(std::move(seed)), options_(std::move(options)) {}

  absl::Status Connect() override { return source_->Connect(); }
  void Close() override {
    source_->Close();
    seed_->Close();
  }
  void Interrupt() override {
    source_->Interrupt();
    seed_->Interrupt();
  }
  absl::StatusOr<SourceHead> Head() override { return source_->Head(); }
  absl::StatusOr<std::optional<FirstEvent>> First() override { return source_->First(); }

  absl::StatusOr<std::unique_ptr<RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                       int64_t expected_rows) override {
    int64_t limit = options_.proven ? options_.proven() : 0;
    if (up_to_id > 0) limit = std::min(limit, up_to_id);
    if (limit > after_id) {
      absl::Status connected = seed_->Connect();
      absl::StatusOr<std::unique_ptr<RowReader>> seed =
          connected.ok() ? seed_->ReadAfter(after_id, limit, limit - after_id)
                         : absl::StatusOr<std::unique_ptr<RowReader>>(connected);
      if (seed.ok()) {
        SeedAnswered(after_id, limit);
        return std::unique_ptr<RowReader>(
            new ChainReader(*this, std::move(*seed), after_id, up_to_id, expected_rows));
      }
      SeedFailed(seed.status());
    } else if (seeding_) {
      seeding_ = false;
      log::Info(*log::Get("engine"), "seed read ends: the rest comes from the source",
                {{"destination", options_.destination},
                 {"seed", options_.seed},
                 {"after_id", after_id},
                 {"seed_proven_up_to", limit},
                 {"rows_from_seed", rows_from_seed_}});
    }
    return source_->ReadAfter(after_id, up_to_id, expected_rows);
  }

  // The source's rows after `after_id` (the seed's part of a read ended there).
  absl::StatusOr<std::unique_ptr<RowReader>> SourceAfter(int64_t after_id, int64_t up_to_id,
                                                         int64_t expected_rows) {
    return source_->ReadAfter(after_id, up_to_id, expected_rows);
  }

  void SeedRead(int64_t rows) {
    rows_from_seed_ += rows;
    if (rows > 0 && options_.on_seed_rows) options_.on_seed_rows(rows);
  }

  void SeedFailed(const absl::Status& status) {
    seed_->Close();
    if (seed_down_) return;
    seed_down_ = true;
    seeding_ = false;
    log::Warn(*log::Get("engine"), "the seed did not answer; reading from the source",
              {{"destination", options_.destination},
               {"seed", options_.seed},
               {"error", log::StatusText(status)},
               {"then", "the seed is tried again at the next read it could serve"}});
  }

 private:
  void SeedAnswered(int64_t after_id, int64_t limit) {
    seed_down_ = false;
    if (seeding_) return;
    seeding_ = true;
    log::Info(*log::Get("engine"), "reading from the seed",
              {{"destination", options_.destination},
               {"seed", options_.seed},
               {"from_id", after_id + 1},
               {"up_to_id", limit},
               {"why", "ids up to there are verified equal to the source on the seed"}});
  }

  const std::unique_ptr<EventSource> source_;
  const std::unique_ptr<EventSource> seed_;
  const SeedOptions options_;
  // The loop's thread only.
  bool seeding_ = false;    // the last read took rows from the seed
  bool seed_down_ = false;  // the last attempt on the seed failed (warned once)
  int64_t rows_from_seed_ = 0;
};

absl::StatusOr<bool> ChainReader::Next(EventRow* row) {
  if (seed_ != nullptr) {
    absl::StatusOr<bool> has = seed_->Next(row);
    if (has.ok() && *has) {
      last_ = row->id;
      ++from_seed_;
      return true;
    }
    if (!has.ok()) owner_.SeedFailed(has.status());
    EndSeed();
    const int64_t left = expected_ > from_seed_ ? expected_ - from_seed_ : 1;
    absl::StatusOr<std::unique_ptr<RowReader>> rest = owner_.SourceAfter(last_, up_to_, left);
    if (!rest.ok()) return rest.status();
    source_ = std::move(*rest);
  }
  return source_->Next(row);
}

void ChainReader::EndSeed() {
  if (seed_ == nullptr) return;
  seed_.reset();
  owner_.SeedRead(from_seed_);
}

}  // namespace

std::unique_ptr<EventSource> NewSeededSource(std::unique_ptr<EventSource> source,
                                             std::unique_ptr<EventSource> seed,
                                             SeedOptions options) {
  return std::make_unique<SeededSource>(std::move(source), std::move(seed), std::move(options));
}

}  // namespace slate::core
