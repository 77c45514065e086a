#include "server/core/notification.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <nlohmann/json.hpp>

namespace slate::core {
namespace {

using Json = nlohmann::json;

Payload Problem(std::string problem) {
  Payload p;
  p.problem = std::move(problem);
  return p;
}

}  // namespace

Payload ParsePayload(absl::string_view payload) {
  if (!absl::StartsWith(absl::StripLeadingAsciiWhitespace(payload), "{")) {
    return Problem("not a JSON object");
  }
  // The original trigger's "event" is skipped unread: a wake-up never looks at event contents.
  const Json::parser_callback_t skip_event = [](int depth, Json::parse_event_t event,
                                                Json& parsed) {
    return !(event == Json::parse_event_t::key && depth == 1 && parsed == "event");
  };
  Json root;
  try {
    root = Json::parse(payload.begin(), payload.end(), skip_event);
  } catch (const Json::parse_error& e) {
    return Problem(absl::StrContains(e.what(), "; expected end of input")
                       ? "trailing characters after the JSON object"
                       : "malformed JSON");
  }
  auto table = root.find("table");
  if (table == root.end()) return Problem("no \"table\" key");
  if (!table->is_string()) return Problem("\"table\" is not a string");
  if (*table != "events") {
    return Problem(
        absl::StrCat("\"table\" is \"", table->get<std::string>(), "\", not \"events\""));
  }
  auto id = root.find("id");
  if (id == root.end()) return Problem("no \"id\" key");
  if (id->is_number_integer() && !id->is_number_unsigned())
    return Problem("\"id\" is not positive");
  if (!id->is_number_unsigned() ||
      id->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Problem("\"id\" is not a whole number");
  }
  Payload p;
  p.id = static_cast<int64_t>(id->get<uint64_t>());
  if (p.id == 0) return Problem("\"id\" is not positive");
  p.ok = true;
  return p;
}

}  // namespace slate::core
