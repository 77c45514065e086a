#pragma once

// Verification: is a destination equal to its source? Compares id ranges by server-side
// checksums (count and a sum of per-row hashes), bisects a differing range down to the first
// differing id, and reports both rows' summaries. Reads only. Events are immutable and only
// appended, so rows up to a destination's max id at the start cannot change while replication
// runs.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace slate::core {

struct RangeSummary {
  int64_t count = 0;
  std::string digest;  // opaque; equal digests and counts mean equal rows
  bool operator==(const RangeSummary& o) const { return count == o.count && digest == o.digest; }
  bool operator!=(const RangeSummary& o) const { return !(*this == o); }
};

struct RowSummary {
  int64_t id = 0;
  int64_t ts_micros = 0;  // Unix microseconds (milliseconds x 1000 when comparing at ms)
  int64_t event_bytes = 0;
  std::string event_md5;
  std::string event_head;  // its first characters
  bool operator==(const RowSummary& o) const {
    return id == o.id && ts_micros == o.ts_micros && event_md5 == o.event_md5;
  }
};

// One database, read-only. Used by one thread at a time.
class VerifyTarget {
 public:
  virtual ~VerifyTarget() = default;
  virtual absl::StatusOr<int64_t> MaxId() = 0;
  virtual absl::StatusOr<RangeSummary> Summarize(int64_t from_id, int64_t to_id) = 0;
  virtual absl::StatusOr<std::vector<RowSummary>> Rows(int64_t from_id, int64_t to_id) = 0;
};

struct VerifyOptions {
  int64_t chunk = 100000;       // ids per checksum query
  bool up_to_position = false;  // a destination behind the source but equal so far passes
};

struct VerifyResult {
  enum class Outcome { kIdentical, kBehind, kDifferent };
  Outcome outcome = Outcome::kIdentical;
  int64_t source_max = 0;
  int64_t destination_max = 0;
  int64_t compared_up_to = 0;
  // kDifferent: the first id where they differ, and each side's row there (absent: no row).
  int64_t first_difference = 0;
  std::optional<RowSummary> source_row;
  std::optional<RowSummary> destination_row;
};

// `progress(compared_up_to, total)` after each chunk. The source and destination queries of a
// chunk run concurrently.
absl::StatusOr<VerifyResult> Verify(VerifyTarget& source, VerifyTarget& destination,
                                    const VerifyOptions& options,
                                    const std::function<void(int64_t, int64_t)>& progress);

// "identical", "behind by N", or "differs at id N".
std::string DescribeOutcome(const VerifyResult& result);

}  // namespace slate::core
