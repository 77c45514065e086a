#include "server/core/restore.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace slate::core {
namespace {

absl::StatusOr<RestoreResult> CopyAndVerify(
    EventSource& backup, VerifyTarget& backup_view, RestoreTarget& target, int64_t backup_max,
    int64_t verify_chunk, const std::function<void(const RestoreProgress&)>& progress) {
  RestoreResult result;
  if (absl::Status s = backup.Connect(); !s.ok()) return s;
  if (absl::Status s = target.Begin(); !s.ok()) return s;
  auto reader = backup.ReadAfter(0, backup_max, backup_max);
  if (!reader.ok()) return reader.status();
  EventRow row;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (row.id != result.rows + 1) {
      return absl::DataLossError(absl::StrCat("the backup has id ", row.id, " after id ",
                                              result.rows, ": ids are missing (a hole)"));
    }
    if (absl::Status s = target.Write(row); !s.ok()) return s;
    ++result.rows;
    if (progress && result.rows % 10000 == 0) progress({false, result.rows, backup_max});
  }
  reader->reset();
  if (result.rows != backup_max) {
    return absl::DataLossError(
        absl::StrCat("the backup gave ", result.rows, " events, expected ids 1..", backup_max));
  }
  if (progress) progress({false, result.rows, backup_max});
  if (absl::Status s = target.EndCopy(); !s.ok()) return s;
  const int64_t chunk = std::max<int64_t>(verify_chunk, 64);
  for (int64_t from = 1; from <= backup_max; from += chunk) {
    const int64_t to = std::min(backup_max, from + chunk - 1);
    auto pair = SummarizeBoth(backup_view, target.view(), from, to);
    if (!pair.ok()) return pair.status();
    if (pair->source != pair->destination) {
      return absl::DataLossError(
          absl::StrCat("the restored ids ", from, "..", to, " differ from the backup's (",
                       pair->destination.count, " rows against ", pair->source.count,
                       "): did the backup change during the restore?"));
    }
    if (progress) progress({true, to, backup_max});
  }
  result.max_id = backup_max;
  result.next_insert_id = backup_max + 1;
  if (absl::Status s = target.Commit(backup_max); !s.ok()) return s;
  return result;
}

}  // namespace

absl::StatusOr<RestoreResult> Restore(EventSource& backup, VerifyTarget& backup_view,
                                      RestoreTarget& target, int64_t backup_max,
                                      int64_t verify_chunk,
                                      const std::function<void(const RestoreProgress&)>& progress) {
  absl::StatusOr<RestoreResult> r =
      CopyAndVerify(backup, backup_view, target, backup_max, verify_chunk, progress);
  if (!r.ok()) target.Abort();
  return r;
}

}  // namespace slate::core
