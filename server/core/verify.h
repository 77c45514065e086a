#pragma once

// Verification: is a destination equal to its source? Compares id ranges by server-side
// checksums (count and a sum of per-row hashes); a range that differs is split into groups (one
// query per side), and the rows of the groups that differ are compared one by one, so every
// differing row is found and classified at the cost of reading only the differing parts twice
// more. Reads only. Events are immutable and only appended, so rows up to a destination's max id
// at the start cannot change while replication runs.
//
// Classes of difference (names are stable: `slatectl verify -o json` and metrics use them):
//   ts_millis  the event is equal and the destination's ts is the source's truncated to the
//              millisecond (how the original Node replicator wrote them): `repair` mends these;
//   content    the event differs, or ts differs otherwise;
//   missing    the source has the id, the destination lacks it below its max id;
//   extra      the destination has an id the source lacks (beyond the source's max id);
// and, apart from these, `behind`: the source has events beyond the destination's max id.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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

// What a row comparison needs of a row: small, so differing ranges travel cheaply.
struct RowDigest {
  int64_t id = 0;
  int64_t ts_micros = 0;
  std::string event_md5;
};

// How far continuous verification has got with one destination (continuous_verify.h), as the
// destination keeps it, so that a restart goes on from there rather than from id 1.
struct VerifyCheckpoint {
  absl::Time pass_started;     // the pass from id 1 it belongs to
  int64_t pass_through = 0;    // ids 1..pass_through compared equal in that pass
  int64_t proven_through = 0;  // the highest id proven equal (>= pass_through); 0: nothing
  absl::Time last_full_pass = absl::InfinitePast();  // when the last pass from id 1 ended
  std::string digest;  // Summarize(proven_through, proven_through).digest, equal on both sides
  // Loaded: the destination's table is no longer the one it was saved for (emptied and filled
  // again, rebuilt, rewritten), so its rows were not the ones proven.
  bool table_replaced = false;
};

// One database, read-only (but for the checkpoint a destination keeps). Used by one thread at a
// time.
class VerifyTarget {
 public:
  virtual ~VerifyTarget() = default;
  virtual absl::StatusOr<int64_t> MaxId() = 0;
  virtual absl::StatusOr<RangeSummary> Summarize(int64_t from_id, int64_t to_id) = 0;
  // Summaries of [from, to] in groups of `group` ids: element k covers from + k*group ... (the
  // last one ends at `to`); an empty group has count 0. Digests compare only with digests of the
  // same call shape.
  virtual absl::StatusOr<std::vector<RangeSummary>> SummarizeGroups(int64_t from_id, int64_t to_id,
                                                                    int64_t group) = 0;
  virtual absl::StatusOr<std::vector<RowDigest>> RowDigests(int64_t from_id, int64_t to_id) = 0;
  virtual absl::StatusOr<std::vector<RowSummary>> Rows(int64_t from_id, int64_t to_id) = 0;
  // Thread-safe: fails a call blocked in another thread at once, and every later one.
  virtual void Interrupt() {}
  // The verification checkpoint this database keeps (nullopt: none yet), and replacing it.
  // Unimplemented: this target keeps none; FailedPrecondition: it may not (privileges).
  virtual absl::StatusOr<std::optional<VerifyCheckpoint>> LoadCheckpoint() {
    return absl::UnimplementedError("this target keeps no verification checkpoint");
  }
  virtual absl::Status SaveCheckpoint(const VerifyCheckpoint& checkpoint) {
    (void)checkpoint;
    return absl::UnimplementedError("this target keeps no verification checkpoint");
  }
};

// Opens a VerifyTarget (a session of its own); Unavailable when the database does not answer.
using VerifyTargetFactory = std::function<absl::StatusOr<std::unique_ptr<VerifyTarget>>()>;

enum class DiffClass { kTsMillis = 0, kContent = 1, kMissing = 2, kExtra = 3 };
inline constexpr DiffClass kAllDiffClasses[] = {DiffClass::kTsMillis, DiffClass::kContent,
                                                DiffClass::kMissing, DiffClass::kExtra};
absl::string_view DiffClassName(DiffClass c);  // "ts_millis", "content", "missing", "extra"
// What a person reads: "ts truncated to the millisecond", "content differs", ...
absl::string_view DiffClassDescription(DiffClass c);

// How many ids of each class a report lists.
inline constexpr size_t kExampleIds = 5;

struct ClassTally {
  int64_t count = 0;
  std::vector<int64_t> first_ids;  // ascending, at most kExampleIds
};

// A row whose only difference is a ts truncated to the millisecond, with what repair needs to
// rewrite it safely (it rewrites only a row still as seen).
struct TsFix {
  int64_t id = 0;
  int64_t source_ts_micros = 0;
  int64_t destination_ts_micros = 0;
  std::string event_md5;
};

// The differences found in some ranges.
struct Differences {
  std::array<ClassTally, 4> classes;
  int64_t first_id = 0;  // the lowest differing id; 0: none
  DiffClass first_class = DiffClass::kContent;

  void Add(DiffClass c, int64_t id);
  // `count` ids of class c, of which `ids` (ascending) are the first ones.
  void AddMany(DiffClass c, int64_t count, const std::vector<int64_t>& ids);
  void Merge(const Differences& other);
  int64_t total() const;
  const ClassTally& of(DiffClass c) const { return classes[static_cast<size_t>(c)]; }
};

// Compares [from, to] of both targets row by row where their group summaries differ, adding
// every difference to *diff (and, when `fixes` is not null, every ts_millis row to *fixes). Ids
// beyond either side's rows count as missing or extra, so callers pass ranges both sides cover.
absl::Status CompareRange(VerifyTarget& source, VerifyTarget& destination, int64_t from, int64_t to,
                          Differences* diff, std::vector<TsFix>* fixes = nullptr);

// Both sides' max ids (source, destination), queried concurrently.
absl::StatusOr<std::pair<int64_t, int64_t>> BothMaxIds(VerifyTarget& source,
                                                       VerifyTarget& destination);
// Both sides' summaries of [from, to], queried concurrently.
struct SummaryPair {
  RangeSummary source;
  RangeSummary destination;
};
absl::StatusOr<SummaryPair> SummarizeBoth(VerifyTarget& source, VerifyTarget& destination,
                                          int64_t from, int64_t to);

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
  Differences differences;
  int64_t behind = 0;  // source_max - destination_max when positive
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

// "identical", "behind by N", or "differs at id N (M rows)".
std::string DescribeOutcome(const VerifyResult& result);
// What to do about the result, for a person: "" when there is nothing to do. `destination` names
// it in the commands suggested.
std::string NextStep(const VerifyResult& result, const std::string& destination);

// The ts the original Node replicator wrote for `micros`: truncated to the millisecond.
inline int64_t TruncateToMillis(int64_t micros) {
  const int64_t rem = ((micros % 1000) + 1000) % 1000;
  return micros - rem;
}

}  // namespace slate::core
