#pragma once

// PostgreSQL's binary COPY format, framing only: the file header, then tuples
// (int16 field count, then per field an int32 length and the bytes), then the int16 -1 trailer.
// The framer finds tuple boundaries and reads the two fixed-width fields the engine needs (id and
// ts, both int64); the event field's bytes are never looked at. Not thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "server/core/interfaces.h"

namespace slate::pg {

// The 19-byte header we write: signature, flags 0, no header extension.
absl::string_view BinaryCopyHeader();
// The 2-byte trailer.
absl::string_view BinaryCopyTrailer();

class CopyFramer {
 public:
  enum class Result { kRow, kNeedMore, kEnd };

  // Appends bytes received from the server.
  void Append(absl::string_view chunk);
  // Frames the next (id, ts, event) tuple. row->encoded points into the framer's buffer and stays
  // valid until the next Append or Next. DataLoss on bytes that are not such tuples.
  absl::StatusOr<Result> Next(core::EventRow* row);
  // Bytes received but not yet framed.
  size_t pending() const { return buf_.size() - off_; }
  bool ended() const { return ended_; }

 private:
  std::string buf_;
  size_t off_ = 0;
  bool header_done_ = false;
  bool ended_ = false;
};

}  // namespace slate::pg
