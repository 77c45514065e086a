#include "server/core/notification.h"

#include "gtest/gtest.h"

namespace slate::core {
namespace {

TEST(PayloadTest, AcceptsOurTriggerAndTheOriginalOne) {
  Payload p = ParsePayload(R"({"table" : "events", "id" : 42})");
  EXPECT_TRUE(p.ok) << p.problem;
  EXPECT_EQ(p.id, 42);
  // The original trigger also carried the event, which may itself contain "id" keys.
  p = ParsePayload(
      R"({"table" : "events", "id" : 7, "event" : {"id": 99, "a": [1, {"id": 3}], "s": "}\"{"}})");
  EXPECT_TRUE(p.ok) << p.problem;
  EXPECT_EQ(p.id, 7);
  p = ParsePayload(R"({"event": {"id": 5}, "id": 8, "table": "events"})");
  EXPECT_TRUE(p.ok) << p.problem;
  EXPECT_EQ(p.id, 8);
}

TEST(PayloadTest, ExplainsWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "not a JSON object"},
      {"hello", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"table": "events"})", "no \"id\" key"},
      {R"({"id": 3})", "no \"table\" key"},
      {R"({"table": "orders", "id": 3})", "\"table\" is \"orders\", not \"events\""},
      {R"({"table": "events", "id": "3"})", "\"id\" is not a whole number"},
      {R"({"table": "events", "id": 3.5})", "\"id\" is not a whole number"},
      {R"({"table": "events", "id": 0})", "\"id\" is not positive"},
      {R"({"table": "events", "id": 99999999999999999999})", "\"id\" is not a whole number"},
      {R"({"table": "events", "id": 3} x)", "trailing characters after the JSON object"},
      {R"({"table": "events", "id": 3)", "malformed JSON"},
      {R"({"table": "events", "event": {"a": }, "id": 3})", "malformed JSON"},
  };
  for (const auto& [payload, problem] : cases) {
    const Payload p = ParsePayload(payload);
    EXPECT_FALSE(p.ok) << payload;
    EXPECT_EQ(p.problem, problem) << payload;
  }
}

}  // namespace
}  // namespace slate::core
