#include "server/postgres/binary_copy.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace slate::pg {
namespace {

std::string BE(uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

std::string Tuple(int64_t id, int64_t ts, const std::string& event) {
  return absl::StrCat(BE(3, 2), BE(8, 4), BE(static_cast<uint64_t>(id), 8), BE(8, 4),
                      BE(static_cast<uint64_t>(ts), 8), BE(event.size(), 4), event);
}

// What PostgreSQL sends: a header (here with a 3-byte extension), tuples, the trailer.
std::string Stream() {
  return absl::StrCat(std::string("PGCOPY\n\377\r\n\0", 11), BE(0, 4), BE(3, 4), "ext",
                      Tuple(1, 700000000000000, "\x01{\"a\": 1}"),
                      Tuple(2, -5, std::string("\x01{\"b\": \"\0\xff\"}", 12)), BE(0xffff, 2));
}

TEST(CopyFramerTest, FramesTuplesAtEverySplitOfTheStream) {
  const std::string stream = Stream();
  for (size_t split = 0; split <= stream.size(); ++split) {
    CopyFramer framer;
    std::vector<std::pair<int64_t, std::string>> rows;
    std::vector<int64_t> ts;
    bool ended = false;
    for (const std::string& chunk : {stream.substr(0, split), stream.substr(split)}) {
      framer.Append(chunk);
      while (true) {
        core::EventRow row;
        auto r = framer.Next(&row);
        ASSERT_TRUE(r.ok()) << r.status();
        if (*r == CopyFramer::Result::kNeedMore) break;
        if (*r == CopyFramer::Result::kEnd) {
          ended = true;
          break;
        }
        rows.emplace_back(row.id, std::string(row.encoded));
        ts.push_back(row.ts);
      }
    }
    ASSERT_TRUE(ended) << "split " << split;
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].first, 1);
    EXPECT_EQ(rows[1].first, 2);
    EXPECT_EQ(ts, (std::vector<int64_t>{700000000000000, -5}));
    // The encoded tuple is passed through whole, event bytes included.
    EXPECT_EQ(rows[1].second, Tuple(2, -5, std::string("\x01{\"b\": \"\0\xff\"}", 12)));
  }
}

TEST(CopyFramerTest, RejectsWhatIsNotAnEventsStream) {
  CopyFramer bad_signature;
  bad_signature.Append(std::string(30, 'x'));
  core::EventRow row;
  EXPECT_EQ(bad_signature.Next(&row).status().code(), absl::StatusCode::kDataLoss);

  CopyFramer two_fields;
  two_fields.Append(absl::StrCat(BinaryCopyHeader(), BE(2, 2)));
  EXPECT_EQ(two_fields.Next(&row).status().code(), absl::StatusCode::kDataLoss);

  CopyFramer null_field;
  null_field.Append(absl::StrCat(BinaryCopyHeader(), BE(3, 2), BE(0xffffffff, 4)));
  EXPECT_EQ(null_field.Next(&row).status().code(), absl::StatusCode::kDataLoss);
}

TEST(CopyFramerTest, OurHeaderIsWhatPostgresExpects) {
  EXPECT_EQ(BinaryCopyHeader(), absl::StrCat(std::string("PGCOPY\n\377\r\n\0", 11), BE(0, 8)));
  EXPECT_EQ(BinaryCopyTrailer(), BE(0xffff, 2));
}

}  // namespace
}  // namespace slate::pg
