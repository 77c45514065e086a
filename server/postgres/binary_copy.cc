#include "server/postgres/binary_copy.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace slate::pg {
namespace {

constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with the terminating NUL
constexpr size_t kSignatureSize = 11;
constexpr size_t kHeaderSize = kSignatureSize + 4 + 4;

uint32_t ReadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
int16_t ReadI16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<int16_t>(static_cast<uint16_t>((u[0] << 8) | u[1]));
}
int64_t ReadI64(const char* p) {
  return static_cast<int64_t>((uint64_t{ReadU32(p)} << 32) | uint64_t{ReadU32(p + 4)});
}

}  // namespace

absl::string_view BinaryCopyHeader() {
  static const std::string header = [] {
    std::string h(kSignature, kSignatureSize);
    h.append(8, '\0');  // flags, header extension length
    return h;
  }();
  return header;
}

absl::string_view BinaryCopyTrailer() {
  static const std::string trailer("\xff\xff", 2);
  return trailer;
}

void CopyFramer::Append(absl::string_view chunk) {
  if (off_ > 0 && off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > (1 << 20) && off_ > buf_.size() / 2) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  buf_.append(chunk.data(), chunk.size());
}

absl::StatusOr<CopyFramer::Result> CopyFramer::Next(core::EventRow* row) {
  if (ended_) return Result::kEnd;
  const char* p = buf_.data() + off_;
  size_t avail = buf_.size() - off_;
  if (!header_done_) {
    if (avail < kHeaderSize) return Result::kNeedMore;
    if (std::memcmp(p, kSignature, kSignatureSize) != 0) {
      return absl::DataLossError("binary COPY stream does not start with PGCOPY's signature");
    }
    const size_t ext = ReadU32(p + kSignatureSize + 4);
    if (avail < kHeaderSize + ext) return Result::kNeedMore;
    off_ += kHeaderSize + ext;
    header_done_ = true;
    p = buf_.data() + off_;
    avail = buf_.size() - off_;
  }
  if (avail < 2) return Result::kNeedMore;
  const int16_t fields = ReadI16(p);
  if (fields == -1) {
    ended_ = true;
    off_ += 2;
    return Result::kEnd;
  }
  if (fields != 3) {
    return absl::DataLossError(
        absl::StrCat("binary COPY tuple has ", fields, " fields; expected id, ts, event"));
  }
  size_t pos = 2;
  int64_t values[2] = {0, 0};
  for (int f = 0; f < 3; ++f) {
    if (avail < pos + 4) return Result::kNeedMore;
    const auto len = static_cast<int32_t>(ReadU32(p + pos));
    pos += 4;
    if (len < 0) return absl::DataLossError("binary COPY tuple has a NULL field");
    if (f < 2 && len != 8) {
      return absl::DataLossError(absl::StrCat("binary COPY field ", f == 0 ? "id" : "ts", " has ",
                                              len, " bytes; expected 8"));
    }
    if (avail < pos + static_cast<size_t>(len)) return Result::kNeedMore;
    if (f < 2) values[f] = ReadI64(p + pos);
    pos += static_cast<size_t>(len);
  }
  row->id = values[0];
  row->ts = values[1];
  row->encoded = absl::string_view(p, pos);
  off_ += pos;
  return Result::kRow;
}

}  // namespace slate::pg
