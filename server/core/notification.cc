#include "server/core/notification.h"

#include <cctype>
#include <limits>

#include "absl/strings/str_cat.h"

namespace slate::core {
namespace {

// A minimal JSON scanner: enough to read top-level keys and skip any value.
class Scanner {
 public:
  explicit Scanner(absl::string_view s) : s_(s) {}

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == s_.size();
  }
  char Peek() {
    SkipSpace();
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        const char e = s_[i_++];
        if (e == 'u') {
          if (i_ + 4 > s_.size()) return false;
          i_ += 4;
          if (out != nullptr) out->push_back('?');
          continue;
        }
        if (out != nullptr) out->push_back(e);
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (out != nullptr) out->push_back(c);
    }
    return false;
  }

  // A non-negative integer without fraction or exponent.
  bool Integer(int64_t* out) {
    SkipSpace();
    const size_t start = i_;
    int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const int digit = s_[i_] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) return false;
      v = v * 10 + digit;
      ++i_;
    }
    if (i_ == start) return false;
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) return false;
    *out = v;
    return true;
  }

  bool SkipValue(int depth = 0) {
    if (depth > 512) return false;
    const char c = Peek();
    if (c == '"') return String(nullptr);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      if (Eat(close)) return true;
      do {
        if (c == '{' && (!String(nullptr) || !Eat(':'))) return false;
        if (!SkipValue(depth + 1)) return false;
      } while (Eat(','));
      return Eat(close);
    }
    // number, true, false, null
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) != 0 ||
                              s_[i_] == '-' || s_[i_] == '+' || s_[i_] == '.')) {
      ++i_;
    }
    return i_ > start;
  }

 private:
  absl::string_view s_;
  size_t i_ = 0;
};

Payload Problem(std::string problem) {
  Payload p;
  p.problem = std::move(problem);
  return p;
}

}  // namespace

Payload ParsePayload(absl::string_view payload) {
  Scanner sc(payload);
  if (!sc.Eat('{')) return Problem("not a JSON object");
  bool has_id = false;
  int64_t id = 0;
  std::string table;
  bool has_table = false;
  if (!sc.Eat('}')) {
    do {
      std::string key;
      if (!sc.String(&key) || !sc.Eat(':')) return Problem("malformed JSON");
      if (key == "id") {
        if (!sc.Integer(&id)) return Problem("\"id\" is not a whole number");
        has_id = true;
      } else if (key == "table") {
        if (!sc.String(&table)) return Problem("\"table\" is not a string");
        has_table = true;
      } else if (!sc.SkipValue()) {
        return Problem("malformed JSON");
      }
    } while (sc.Eat(','));
    if (!sc.Eat('}')) return Problem("malformed JSON");
  }
  if (!sc.AtEnd()) return Problem("trailing characters after the JSON object");
  if (!has_table) return Problem("no \"table\" key");
  if (table != "events")
    return Problem(absl::StrCat("\"table\" is \"", table, "\", not \"events\""));
  if (!has_id) return Problem("no \"id\" key");
  if (id <= 0) return Problem("\"id\" is not positive");
  Payload p;
  p.ok = true;
  p.id = id;
  return p;
}

}  // namespace slate::core
