// The seeded source (server/core/seeded_source.h): which rows come from the seed and which from
// the source, on two test tables whose rows say where they were read.

#include "server/core/seeded_source.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace slate::core {
namespace {

// A table of `rows` ids (10 per transaction), each row's bytes naming `where`.
class Table : public EventSource {
 public:
  Table(std::string where, int64_t rows) : where_(std::move(where)), rows_(rows) {}

  absl::Status Connect() override {
    ++connects;
    return connect_error;
  }
  void Close() override { ++closes; }
  void Interrupt() override {}
  absl::StatusOr<SourceHead> Head() override {
    SourceHead h;
    h.max_id = rows_;
    return h;
  }
  absl::StatusOr<std::optional<FirstEvent>> First() override {
    return FirstEvent{1, 1, where_ + "-1"};
  }
  absl::StatusOr<std::unique_ptr<RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                       int64_t expected_rows) override {
    reads.push_back({after_id, up_to_id, expected_rows});
    return std::unique_ptr<RowReader>(new Reader(*this, after_id, up_to_id));
  }

  struct Read {
    int64_t after, up_to, expected;
  };
  std::vector<Read> reads;
  int connects = 0;
  int closes = 0;
  absl::Status connect_error;
  int64_t fail_at_id = 0;  // a read fails when it reaches this id (0: never)

 private:
  class Reader : public RowReader {
   public:
    Reader(Table& t, int64_t after, int64_t up_to) : t_(t), next_(after + 1), up_to_(up_to) {}
    absl::StatusOr<bool> Next(EventRow* row) override {
      if (next_ > t_.rows_ || (up_to_ > 0 && next_ > up_to_)) return false;
      if (next_ == t_.fail_at_id) return absl::UnavailableError("connection lost");
      bytes_ = absl::StrCat(t_.where_, "-", next_);
      row->id = next_;
      row->ts = (next_ - 1) / 10;
      row->encoded = bytes_;
      ++next_;
      return true;
    }

   private:
    Table& t_;
    int64_t next_;
    const int64_t up_to_;
    std::string bytes_;
  };

  const std::string where_;
  const int64_t rows_;
};

class SeededSourceTest : public ::testing::Test {
 protected:
  SeededSourceTest() {
    auto source = std::make_unique<Table>("source", 100);
    auto seed = std::make_unique<Table>("seed", 60);
    source_ = source.get();
    seed_ = seed.get();
    SeedOptions options;
    options.destination = "replica3";
    options.seed = "replica1";
    options.proven = [this] { return proven_; };
    options.on_seed_rows = [this](int64_t n) { seed_rows_ += n; };
    seeded_ = NewSeededSource(std::move(source), std::move(seed), std::move(options));
  }

  // Every row of one read, as "where-id".
  std::vector<std::string> ReadAll(int64_t after, int64_t up_to = 0, int64_t expected = 0) {
    std::vector<std::string> out;
    auto reader = seeded_->ReadAfter(after, up_to, expected);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return out;
    EventRow row;
    while (true) {
      absl::StatusOr<bool> has = (*reader)->Next(&row);
      EXPECT_TRUE(has.ok()) << has.status();
      if (!has.ok() || !*has) break;
      EXPECT_EQ(row.id, after + 1 + static_cast<int64_t>(out.size())) << "ids in order, no gap";
      out.emplace_back(row.encoded);
    }
    return out;
  }

  static std::vector<std::string> Rows(const std::string& where, int64_t from, int64_t to) {
    std::vector<std::string> out;
    for (int64_t id = from; id <= to; ++id) out.push_back(absl::StrCat(where, "-", id));
    return out;
  }
  static std::vector<std::string> Join(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  Table* source_;
  Table* seed_;
  int64_t proven_ = 0;
  int64_t seed_rows_ = 0;
  std::unique_ptr<EventSource> seeded_;
};

TEST_F(SeededSourceTest, ProvenRowsComeFromTheSeedAndTheRestFromTheSourceInOneRead) {
  proven_ = 45;  // mid-transaction: the read goes on from the source at id 46
  EXPECT_EQ(ReadAll(0, 0, 100), Join(Rows("seed", 1, 45), Rows("source", 46, 100)));
  EXPECT_EQ(seed_rows_, 45);
  ASSERT_EQ(seed_->reads.size(), 1u);
  EXPECT_EQ(seed_->reads[0].after, 0);
  EXPECT_EQ(seed_->reads[0].up_to, 45) << "never past what is proven";
  ASSERT_EQ(source_->reads.size(), 1u);
  EXPECT_EQ(source_->reads[0].after, 45);
  EXPECT_EQ(source_->reads[0].expected, 55) << "the rest of the caller's guess";
}

TEST_F(SeededSourceTest, NothingProvenOrAlreadyPastItReadsOnlyTheSource) {
  EXPECT_EQ(ReadAll(0), Rows("source", 1, 100));
  proven_ = 30;
  EXPECT_EQ(ReadAll(30), Rows("source", 31, 100));
  EXPECT_EQ(ReadAll(50), Rows("source", 51, 100));
  EXPECT_EQ(seed_->connects, 0);
  EXPECT_TRUE(seed_->reads.empty());
  EXPECT_EQ(seed_rows_, 0);
}

TEST_F(SeededSourceTest, ABoundedReadStaysWithinItsBound) {
  proven_ = 50;
  EXPECT_EQ(ReadAll(10, 30), Rows("seed", 11, 30));
  ASSERT_EQ(seed_->reads.size(), 1u);
  EXPECT_EQ(seed_->reads[0].up_to, 30);
  // What the source is asked for after the seed's part keeps the bound (and returns nothing).
  ASSERT_EQ(source_->reads.size(), 1u);
  EXPECT_EQ(source_->reads[0].after, 30);
  EXPECT_EQ(source_->reads[0].up_to, 30);
}

TEST_F(SeededSourceTest, ASeedWithFewerRowsThanProvenLeavesTheRestToTheSource) {
  proven_ = 80;  // the seed has 60 rows
  EXPECT_EQ(ReadAll(0), Join(Rows("seed", 1, 60), Rows("source", 61, 100)));
  EXPECT_EQ(seed_rows_, 60);
}

TEST_F(SeededSourceTest, ASeedThatDoesNotAnswerCostsOnlyItsRows) {
  proven_ = 40;
  seed_->connect_error = absl::UnavailableError("seed down");
  EXPECT_EQ(ReadAll(0), Rows("source", 1, 100));
  EXPECT_EQ(seed_->connects, 1);
  // Up again: the next read that it can serve takes its rows.
  seed_->connect_error = absl::OkStatus();
  EXPECT_EQ(ReadAll(0), Join(Rows("seed", 1, 40), Rows("source", 41, 100)));
  EXPECT_EQ(seed_rows_, 40);
}

TEST_F(SeededSourceTest, ASeedFailingDuringAReadIsLeftForTheSourceWhereItStopped) {
  proven_ = 50;
  seed_->fail_at_id = 21;
  EXPECT_EQ(ReadAll(0), Join(Rows("seed", 1, 20), Rows("source", 21, 100)));
  EXPECT_EQ(seed_rows_, 20);
  EXPECT_GE(seed_->closes, 1) << "the failed session is closed, to be opened again";
}

TEST_F(SeededSourceTest, EverythingButReadsGoesToTheSource) {
  proven_ = 50;
  auto head = seeded_->Head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->max_id, 100);
  auto first = seeded_->First();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->event_text, "source-1");
  ASSERT_TRUE(seeded_->Connect().ok());
  EXPECT_EQ(source_->connects, 1);
  EXPECT_EQ(seed_->connects, 0) << "the seed is opened only to read";
}

TEST_F(SeededSourceTest, AReaderAbandonedEarlyCountsWhatTheSeedGave) {
  proven_ = 50;
  {
    auto reader = seeded_->ReadAfter(0, 0, 0);
    ASSERT_TRUE(reader.ok());
    EventRow row;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(*(*reader)->Next(&row));
  }
  EXPECT_EQ(seed_rows_, 5);
  EXPECT_TRUE(source_->reads.empty());
}

}  // namespace
}  // namespace slate::core
