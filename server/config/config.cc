#include "server/config/config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <nlohmann/json.hpp>

#include "server/common/secrets.h"

namespace slate::config {
namespace {

using Json = nlohmann::json;

class Errors {
 public:
  void Add(const std::string& path, const std::string& message) {
    lines_.push_back(absl::StrCat(path, ": ", message));
  }
  bool empty() const { return lines_.empty(); }
  std::string Join() const { return absl::StrJoin(lines_, "\n"); }

 private:
  std::vector<std::string> lines_;
};

std::string TypeName(const Json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "a whole number";
  if (v.is_number()) return "a number";
  return v.type_name();  // "string", "object", "array", "boolean", "null"
}

void CheckKeys(const Json& obj, const std::string& path, const std::set<std::string>& allowed,
               Errors& errors) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (allowed.count(it.key()) == 0) {
      errors.Add(absl::StrCat(path, path.empty() ? "" : ".", it.key()),
                 absl::StrCat("unknown key; allowed here: ", absl::StrJoin(allowed, ", ")));
    }
  }
}

std::optional<std::string> GetString(const Json& obj, const std::string& key,
                                     const std::string& path, bool required, Errors& errors) {
  const std::string where = absl::StrCat(path, ".", key);
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) errors.Add(where, "required; add it as a string");
    return std::nullopt;
  }
  if (!it->is_string()) {
    errors.Add(where, absl::StrCat("must be a string, not ", TypeName(*it)));
    return std::nullopt;
  }
  std::string value = it->get<std::string>();
  if (required && absl::StripAsciiWhitespace(value).empty()) {
    errors.Add(where, "must not be empty");
    return std::nullopt;
  }
  return value;
}

// A whole number in [min, max]; `unit` names it in the message ("milliseconds").
std::optional<int64_t> GetInt(const Json& obj, const std::string& key, const std::string& path,
                              int64_t min, int64_t max, const std::string& unit, Errors& errors) {
  const std::string where = path.empty() ? key : absl::StrCat(path, ".", key);
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  const std::string range = absl::StrCat("a whole number of ", unit, " from ", min, " to ", max);
  if (it->is_number_float()) {
    errors.Add(where, absl::StrCat("must be ", range, ", not ", it->dump(), " (a fraction)"));
    return std::nullopt;
  }
  if (!it->is_number_integer() && !it->is_number_unsigned()) {
    errors.Add(where, absl::StrCat("must be ", range, ", not ", TypeName(*it),
                                   it->is_string() ? " (remove the quotes)" : ""));
    return std::nullopt;
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    errors.Add(where, absl::StrCat("must be ", range, ", not ", it->dump()));
    return std::nullopt;
  }
  const int64_t v = it->get<int64_t>();
  if (v < min || v > max) {
    errors.Add(where, absl::StrCat("must be ", range, ", not ", v));
    return std::nullopt;
  }
  return v;
}

const std::set<std::string> kSslModes = {"disable", "allow",     "prefer",
                                         "require", "verify-ca", "verify-full"};

// "host:port", as the original tool's users wrote it (its config has no port key): the host and
// the port; nullopt when `host` is not of that form (a name, an IPv4 address, an IPv6 address).
std::optional<std::pair<std::string, int64_t>> SplitHostPort(const std::string& host) {
  const size_t colon = host.find(':');
  if (colon == std::string::npos || colon == 0 || host.find(':', colon + 1) != std::string::npos) {
    return std::nullopt;
  }
  const std::string port = host.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::make_pair(host.substr(0, colon), std::stoll(port));
}

std::optional<DatabaseConfig> ParseDatabase(const Json& v, const std::string& path,
                                            const SecretLookup& secrets, Errors& errors,
                                            std::vector<std::string>& warnings) {
  if (!v.is_object()) {
    errors.Add(path,
               absl::StrCat("must be an object with host and databaseName, not ", TypeName(v)));
    return std::nullopt;
  }
  CheckKeys(v, path,
            {"name", "host", "port", "databaseName", "user", "password", "passwordFile",
             "passwordEnv", "sslmode", "paused", "seedFrom"},
            errors);
  DatabaseConfig db;
  if (auto paused = v.find("paused"); paused != v.end()) {
    if (path == "eventSource") {
      errors.Add("eventSource.paused", "only a destination can be paused; remove this key");
    } else if (!paused->is_boolean()) {
      errors.Add(absl::StrCat(path, ".paused"),
                 absl::StrCat("must be true or false, not ", TypeName(*paused)));
    } else {
      db.paused = paused->get<bool>();
    }
  }
  if (path == "eventSource" && v.contains("seedFrom")) {
    errors.Add("eventSource.seedFrom",
               "only a destination can be seeded from another; remove this key");
  } else if (auto seed = GetString(v, "seedFrom", path, false, errors)) {
    db.seed_from = *seed;
  }
  auto host = GetString(v, "host", path, true, errors);
  auto database = GetString(v, "databaseName", path, true, errors);
  if (host) db.params.host = *host;
  if (database) db.params.database = *database;
  const bool has_port = v.contains("port") && !v.at("port").is_null();
  if (auto port = GetInt(v, "port", path, 1, 65535, "port", errors)) {
    db.params.port = static_cast<int>(*port);
  }
  if (host) {
    if (auto split = SplitHostPort(*host)) {
      const std::string where = absl::StrCat(path, ".host");
      if (has_port) {
        errors.Add(where, absl::StrCat("'", *host, "' carries a port and ", path,
                                       ".port is given too; write the host alone: \"", split->first,
                                       "\""));
      } else if (split->second < 1 || split->second > 65535) {
        errors.Add(where, absl::StrCat("'", *host, "' carries port ", split->second,
                                       ", which must be from 1 to 65535"));
      } else {
        db.params.host = split->first;
        db.params.port = static_cast<int>(split->second);
        warnings.push_back(absl::StrCat(where, ": '", *host, "' is read as host '", split->first,
                                        "' and port ", split->second, "; write \"host\": \"",
                                        split->first, "\", \"port\": ", split->second,
                                        " (this config has a port key)"));
      }
    }
  }
  if (auto user = GetString(v, "user", path, false, errors)) db.params.user = *user;
  if (auto name = GetString(v, "name", path, false, errors)) db.name = *name;
  if (auto ssl = GetString(v, "sslmode", path, false, errors)) {
    if (kSslModes.count(*ssl) == 0) {
      errors.Add(absl::StrCat(path, ".sslmode"),
                 absl::StrCat("'", *ssl, "' is not a libpq sslmode; use one of ",
                              absl::StrJoin(kSslModes, ", ")));
    } else {
      db.params.sslmode = *ssl;
    }
  }
  auto password = GetString(v, "password", path, false, errors);
  auto file = GetString(v, "passwordFile", path, false, errors);
  auto env = GetString(v, "passwordEnv", path, false, errors);
  if (int(password.has_value()) + int(file.has_value()) + int(env.has_value()) > 1) {
    errors.Add(path, "give at most one of password, passwordFile and passwordEnv");
  } else if (password) {
    db.params.password = *password;
    db.password_origin = "the config file";
  } else if (file) {
    auto secret = secrets.read_file(*file);
    if (secret.ok()) {
      db.params.password = *secret;
      db.password_origin = absl::StrCat("passwordFile ", *file);
    } else {
      errors.Add(absl::StrCat(path, ".passwordFile"), std::string(secret.status().message()));
    }
  } else if (env) {
    auto secret = secrets.read_env(*env);
    if (secret.ok()) {
      db.params.password = *secret;
      db.password_origin = absl::StrCat("passwordEnv ", *env);
    } else {
      errors.Add(absl::StrCat(path, ".passwordEnv"), std::string(secret.status().message()));
    }
  }
  return db;
}

// The Node tool's config is a module: `module.exports = {...}` (possibly with comments first).
bool LooksLikeJavaScript(const std::string& path, const std::string& text) {
  return absl::EndsWith(path, ".js") || absl::StrContains(text, "module.exports") ||
         absl::StrContains(text, "exports.");
}

std::string DefaultName(const ConnParams& p) {
  return absl::StrCat(p.host, ":", p.port, "/", p.database);
}

// A seed is another destination of this config, and only rows continuous verification has
// proven are read from it, so it needs verification on.
void CheckSeeds(const Config& config, Errors& errors) {
  std::vector<std::string> names;
  for (const DatabaseConfig& d : config.destinations) names.push_back(d.name);
  for (size_t i = 0; i < config.destinations.size(); ++i) {
    const DatabaseConfig& d = config.destinations[i];
    if (d.seed_from.empty()) continue;
    const std::string where = absl::StrCat("replicationDestinations[", i, "].seedFrom");
    if (d.seed_from == d.name) {
      errors.Add(where, absl::StrCat("'", d.name,
                                     "' names this destination itself; name another destination "
                                     "to read the backlog from, or remove the key"));
    } else if (std::find(names.begin(), names.end(), d.seed_from) == names.end()) {
      errors.Add(where, absl::StrCat("'", d.seed_from,
                                     "' is not a destination of this config; name one of ",
                                     absl::StrJoin(names, ", "), ", or remove the key"));
    } else if (config.engine.verify_ids_per_second <= 0) {
      errors.Add(where,
                 "needs continuous verification (verifyIdsPerSecond > 0): only rows verified "
                 "equal to the source are read from a seed; set verifyIdsPerSecond or remove "
                 "the key");
    }
  }
}

}  // namespace

SecretLookup DefaultSecretLookup() {
  return {[](const std::string& path) { return ReadSecretFile(path); }, ReadSecretEnv};
}

absl::StatusOr<Config> ParseConfig(const std::string& json_text, const SecretLookup& secrets) {
  Json root;
  try {
    // Comments (// and /* */) are allowed, so configs can explain themselves.
    root = Json::parse(json_text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const Json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return absl::InvalidArgumentError(absl::StrCat("config is not valid JSON: ", what));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        "config must be a JSON object with eventSource and replicationDestinations");
  }
  Errors errors;
  Config config;
  CheckKeys(root, "",
            {"maxEventsPerWrite", "connectTimeout", "eventSource", "replicationDestinations",
             "pollInterval", "maxRetryDelay", "skipHolesAfter", "heartbeatTimeout", "stallTimeout",
             "parallelWrites", "synchronousCommit", "instanceGroup", "verifyIdsPerSecond",
             "verifyPassInterval", "bulkLoadThreshold", "indexBuildSessions", "indexBuildMemoryMB"},
            errors);

  core::EngineOptions& engine = config.engine;
  if (auto n = GetInt(root, "maxEventsPerWrite", "", 1, 100000000, "events", errors)) {
    engine.max_events_per_write = *n;
  }
  if (auto ms = GetInt(root, "connectTimeout", "", 1, 3600000, "milliseconds", errors)) {
    config.connect_timeout_ms = *ms;
  }
  if (auto ms = GetInt(root, "pollInterval", "", 100, 3600000, "milliseconds", errors)) {
    engine.poll_interval = absl::Milliseconds(*ms);
  }
  if (auto ms = GetInt(root, "maxRetryDelay", "", 100, 3600000, "milliseconds", errors)) {
    engine.max_retry_delay = absl::Milliseconds(*ms);
  }
  if (auto ms = GetInt(root, "skipHolesAfter", "", 0, 86400000 * 7LL, "milliseconds", errors)) {
    engine.skip_holes_after = absl::Milliseconds(*ms);
  }
  config.heartbeat_timeout = std::max(absl::Seconds(15), 3 * engine.poll_interval);
  if (auto ms = GetInt(root, "heartbeatTimeout", "", 1000, 86400000, "milliseconds", errors)) {
    config.heartbeat_timeout = absl::Milliseconds(*ms);
  }
  if (auto ms = GetInt(root, "stallTimeout", "", 1000, 86400000, "milliseconds", errors)) {
    engine.stall_timeout = absl::Milliseconds(*ms);
  }
  if (auto n = GetInt(root, "parallelWrites", "", 1, 8, "sessions", errors)) {
    engine.parallel_writes = static_cast<int>(*n);
  }
  if (auto sc = GetString(root, "synchronousCommit", "", false, errors)) {
    static const std::set<std::string> kModes = {"on", "off", "local", "remote_write",
                                                 "remote_apply"};
    if (kModes.count(*sc) == 0) {
      errors.Add("synchronousCommit",
                 absl::StrCat("'", *sc, "' is not a synchronous_commit setting; use one of ",
                              absl::StrJoin(kModes, ", ")));
    } else {
      engine.synchronous_commit = *sc;
    }
  }
  if (auto n = GetInt(root, "verifyIdsPerSecond", "", 0, 100000000, "ids per second", errors)) {
    engine.verify_ids_per_second = *n;
  }
  if (auto ms =
          GetInt(root, "verifyPassInterval", "", 0, 86400000 * 365LL, "milliseconds", errors)) {
    engine.verify_full_pass_every = absl::Milliseconds(*ms);
  }
  if (auto n = GetInt(root, "bulkLoadThreshold", "", 0, int64_t{1} << 50, "events", errors)) {
    engine.bulk_load_threshold = *n;
  }
  if (auto n = GetInt(root, "indexBuildSessions", "", 1, 16, "sessions", errors)) {
    engine.index_build_sessions = static_cast<int>(*n);
  }
  if (auto n = GetInt(root, "indexBuildMemoryMB", "", 1, 1 << 20, "megabytes", errors)) {
    engine.index_build_memory_mb = *n;
  }
  if (auto group = GetString(root, "instanceGroup", "", false, errors)) {
    if (absl::StripAsciiWhitespace(*group).empty()) {
      errors.Add("instanceGroup", "must not be empty; leave it out to derive it from the config");
    } else {
      config.instance_group = *group;
    }
  }
  config.notes = core::Sanitize(engine);
  // libpq counts whole seconds: round up.
  const int timeout_s = static_cast<int>((config.connect_timeout_ms + 999) / 1000);

  if (auto it = root.find("eventSource"); it == root.end()) {
    errors.Add("eventSource", "required; add an object with host and databaseName");
  } else if (auto db = ParseDatabase(*it, "eventSource", secrets, errors, config.warnings)) {
    config.source = *db;
    config.source.name = "source";
    config.source.params.connect_timeout_seconds = timeout_s;
    config.source.params.stall_timeout_ms = absl::ToInt64Milliseconds(engine.stall_timeout);
  }

  auto dests = root.find("replicationDestinations");
  if (dests == root.end()) {
    errors.Add("replicationDestinations", "required; add an array of one or more destinations");
  } else if (!dests->is_array() || dests->empty()) {
    errors.Add("replicationDestinations",
               absl::StrCat("must be an array of one or more destination objects, not ",
                            dests->is_array() ? "an empty array" : TypeName(*dests)));
  } else {
    for (size_t i = 0; i < dests->size(); ++i) {
      const std::string path = absl::StrCat("replicationDestinations[", i, "]");
      auto db = ParseDatabase((*dests)[i], path, secrets, errors, config.warnings);
      if (!db) continue;
      db->params.connect_timeout_seconds = timeout_s;
      db->params.stall_timeout_ms = absl::ToInt64Milliseconds(engine.stall_timeout);
      if (db->name.empty()) db->name = DefaultName(db->params);
      if (db->params.host.empty() || db->params.database.empty()) continue;
      if (db->params.SameDatabaseAs(config.source.params)) {
        errors.Add(path, absl::StrCat("is the source database (", DefaultName(db->params),
                                      "); a destination must be another database"));
      }
      for (size_t j = 0; j < config.destinations.size(); ++j) {
        if (db->params.SameDatabaseAs(config.destinations[j].params)) {
          errors.Add(path, absl::StrCat("is the same database as replicationDestinations[", j,
                                        "] (host and databaseName compare case-insensitively); "
                                        "list each destination once"));
        } else if (db->name == config.destinations[j].name) {
          errors.Add(absl::StrCat(path, ".name"),
                     absl::StrCat("'", db->name, "' is also replicationDestinations[", j,
                                  "]'s name; names must be unique"));
        }
      }
      config.destinations.push_back(std::move(*db));
    }
    CheckSeeds(config, errors);
  }
  if (!errors.empty()) return absl::InvalidArgumentError(errors.Join());
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read config file '", path, "': check the path given with -c"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto config = ParseConfig(text.str(), DefaultSecretLookup());
  if (!config.ok() && LooksLikeJavaScript(path, text.str())) {
    const std::string module =
        path.front() == '/' || path.rfind("./", 0) == 0 || path.rfind("../", 0) == 0 ? path
                                                                                     : "./" + path;
    return absl::InvalidArgumentError(absl::StrCat(
        "config file '", path,
        "' is a JavaScript module (the Node tool's config.js), not JSON. Convert it once, where "
        "node is installed, and pass the JSON file with -c:\n"
        "node -e 'process.stdout.write(JSON.stringify(require(process.argv[1])))' ",
        module, " > config.json"));
  }
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file '", path, "' is invalid:\n", config.status().message()));
  }
  return config;
}

std::vector<std::pair<std::string, std::string>> DescribeConfig(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out;
  auto db = [](const DatabaseConfig& d) {
    std::string s = d.params.Describe();
    if (!d.params.sslmode.empty()) absl::StrAppend(&s, " sslmode=", d.params.sslmode);
    absl::StrAppend(&s, d.password_origin.empty()
                            ? " (password: libpq default)"
                            : absl::StrCat(" (password from ", d.password_origin, ")"));
    return s;
  };
  out.emplace_back("eventSource", db(config.source));
  for (const DatabaseConfig& d : config.destinations) {
    out.emplace_back(
        absl::StrCat("destination ", d.name),
        absl::StrCat(db(d), d.paused ? " (starts paused)" : "",
                     d.seed_from.empty() ? ""
                                         : absl::StrCat(" (seeded from ", d.seed_from,
                                                        ", up to its verified rows)")));
  }
  const core::EngineOptions& engine = config.engine;
  out.emplace_back("maxEventsPerWrite", absl::StrCat(engine.max_events_per_write));
  out.emplace_back("connectTimeout", absl::StrCat(config.connect_timeout_ms, " ms"));
  out.emplace_back("pollInterval", absl::FormatDuration(engine.poll_interval));
  out.emplace_back("maxRetryDelay", absl::FormatDuration(engine.max_retry_delay));
  out.emplace_back("heartbeatTimeout", absl::FormatDuration(config.heartbeat_timeout));
  out.emplace_back("stallTimeout", absl::FormatDuration(engine.stall_timeout));
  out.emplace_back("parallelWrites", absl::StrCat(engine.parallel_writes));
  out.emplace_back("synchronousCommit", engine.synchronous_commit);
  out.emplace_back("verifyIdsPerSecond",
                   engine.verify_ids_per_second == 0
                       ? std::string("0 (continuous verification off)")
                       : absl::StrCat(engine.verify_ids_per_second, " per destination"));
  out.emplace_back("verifyPassInterval",
                   engine.verify_full_pass_every == absl::ZeroDuration()
                       ? std::string("0 (one pass from id 1 at start, then new rows only)")
                       : absl::FormatDuration(engine.verify_full_pass_every));
  out.emplace_back("bulkLoadThreshold", engine.bulk_load_threshold == 0
                                            ? std::string("0 (bulk load off)")
                                            : absl::StrCat(engine.bulk_load_threshold,
                                                           " events into an empty destination"));
  out.emplace_back("indexBuildSessions", absl::StrCat(engine.index_build_sessions));
  out.emplace_back("indexBuildMemoryMB", absl::StrCat(engine.index_build_memory_mb, " MB"));
  out.emplace_back("instanceGroup", config.instance_group.empty()
                                        ? std::string("(from the source and destinations)")
                                        : config.instance_group);
  out.emplace_back("skipHolesAfter", engine.skip_holes_after == absl::ZeroDuration()
                                         ? std::string("never (holes are held)")
                                         : absl::FormatDuration(engine.skip_holes_after));
  return out;
}

}  // namespace slate::config
