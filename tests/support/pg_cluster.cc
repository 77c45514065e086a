#include "tests/support/pg_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include <libpq-fe.h>

#include "server/postgres/init_db.h"
#include "tests/support/subprocess.h"

namespace slate::testing {
namespace {

std::set<PgCluster*>& LiveClusters() {
  static std::set<PgCluster*> clusters;
  return clusters;
}

std::string CommandOutput(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    pclose(p);
  }
  return std::string(absl::StripTrailingAsciiWhitespace(out));
}

}  // namespace

absl::StatusOr<std::string> PgCluster::BinDir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("SLATE_PG_BINDIR"); env != nullptr && *env != '\0') {
    if (!fs::exists(fs::path(env) / "initdb")) {
      return absl::NotFoundError(absl::StrCat("SLATE_PG_BINDIR=", env, " has no initdb"));
    }
    return std::string(env);
  }
  if (fs::exists("/usr/lib/postgresql/15/bin/initdb"))
    return std::string("/usr/lib/postgresql/15/bin");
  std::string dir = CommandOutput("pg_config --bindir 2>/dev/null");
  if (!dir.empty() && fs::exists(fs::path(dir) / "initdb")) return dir;
  return absl::NotFoundError(
      "PostgreSQL 15 binaries not found: install postgresql-15 (deploy/install-deps.sh) or set "
      "SLATE_PG_BINDIR to the directory holding initdb and postgres");
}

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::Start(const std::string& name,
                                                            const std::string& password) {
  std::unique_ptr<PgCluster> c(new PgCluster());
  c->name_ = name;
  c->password_ = password;
  auto bin = BinDir();
  if (!bin.ok()) return bin.status();
  c->bin_dir_ = *bin;

  if (geteuid() == 0) {
    const char* user = std::getenv("SLATE_PG_USER");
    if (user == nullptr || *user == '\0') user = "postgres";
    const passwd* pw = getpwnam(user);
    if (pw == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "running as root, PostgreSQL must run as an unprivileged user, but user '", user,
          "' does not exist: install postgresql-15 (it creates 'postgres') or set SLATE_PG_USER"));
    }
    c->uid_ = static_cast<int>(pw->pw_uid);
    c->gid_ = static_cast<int>(pw->pw_gid);
  }

  std::string templ = absl::StrCat("/tmp/slate-pg-", name, "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  c->dir_ = templ;
  c->data_dir_ = c->dir_ + "/data";
  c->log_path_ = c->dir_ + "/server.log";
  chmod(c->dir_.c_str(), 0755);
  if (c->uid_ >= 0 &&
      chown(c->dir_.c_str(), static_cast<uid_t>(c->uid_), static_cast<gid_t>(c->gid_)) != 0) {
    return absl::InternalError(absl::StrCat("chown ", c->dir_, ": ", std::strerror(errno)));
  }

  SpawnOptions opts;
  opts.uid = c->uid_;
  opts.gid = c->gid_;
  opts.output_path = c->dir_ + "/initdb.log";
  opts.parent_death_signal = SIGKILL;
  std::vector<std::string> initdb = {c->bin_dir_ + "/initdb",
                                     "-D",
                                     c->data_dir_,
                                     "-U",
                                     "postgres",
                                     "-E",
                                     "UTF8",
                                     "--locale=C",
                                     "--no-sync"};
  if (password.empty()) {
    initdb.insert(initdb.end(), {"-A", "trust"});
  } else {
    const std::string pwfile = c->dir_ + "/pwfile";
    { std::ofstream(pwfile) << password << "\n"; }
    if (c->uid_ >= 0)
      (void)chown(pwfile.c_str(), static_cast<uid_t>(c->uid_), static_cast<gid_t>(c->gid_));
    initdb.insert(initdb.end(),
                  {"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile});
  }
  auto rc = RunProcess(initdb, opts);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed (exit ", *rc, "):\n", ReadFile(opts.output_path)));
  }

  // A port can be taken between probing and binding: try a few.
  absl::Status started;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    c->port_ = *port;
    started = c->StartServer();
    if (started.ok()) break;
  }
  if (!started.ok()) return started;
  LiveClusters().insert(c.get());
  return c;
}

absl::Status PgCluster::StartServer() {
  SpawnOptions opts;
  opts.uid = uid_;
  opts.gid = gid_;
  opts.output_path = log_path_;
  opts.parent_death_signal = SIGQUIT;  // immediate shutdown: the server ends its children too
  auto pid = Spawn({bin_dir_ + "/postgres",
                    "-D",
                    data_dir_,
                    "-p",
                    absl::StrCat(port_),
                    "-k",
                    dir_,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "track_commit_timestamp=on",
                    "-c",
                    "log_min_messages=warning",
                    "-c",
                    "log_line_prefix=%m [%p] %d "},
                   opts);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;

  const std::string conninfo = Params("postgres").ToConnInfo();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("postgres exited during start-up:\n", LogTail()));
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    // Polling a condition (the server accepting connections) under a deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGQUIT);
  (void)WaitExit(pid_);
  pid_ = -1;
  return absl::DeadlineExceededError(absl::StrCat("postgres did not start in 60 s:\n", LogTail()));
}

PgCluster::~PgCluster() {
  LiveClusters().erase(this);
  if (pid_ > 0) (void)Stop("fast");
  std::error_code ec;
  if (!dir_.empty() && std::getenv("SLATE_KEEP_PG") == nullptr)
    std::filesystem::remove_all(dir_, ec);
}

ConnParams PgCluster::Params(const std::string& database) const {
  ConnParams p;
  p.host = "127.0.0.1";
  p.port = port_;
  p.database = database;
  p.user = "postgres";
  p.password = password_;
  p.connect_timeout_seconds = 10;
  p.application_name = "slate-tests";
  return p;
}

absl::Status PgCluster::CreateSlateDatabase(const std::string& database, pg::TableType type) {
  pg::InitDbRequest request;
  request.server = Params("postgres");
  request.type = type;
  request.new_database = database;
  return pg::InitDatabase(request, [](absl::string_view) {});
}

absl::Status PgCluster::CreateEmptyDatabase(const std::string& database) {
  PGconn* conn = PQconnectdb(Params("postgres").ToConnInfo().c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(PQerrorMessage(conn));
  } else {
    PGresult* res = PQexec(conn, absl::StrCat("CREATE DATABASE \"", database, "\"").c_str());
    if (PQresultStatus(res) != PGRES_COMMAND_OK) status = absl::InternalError(PQerrorMessage(conn));
    PQclear(res);
  }
  PQfinish(conn);
  return status;
}

absl::Status PgCluster::Stop(const std::string& mode) {
  if (pid_ <= 0) return absl::OkStatus();
  const int sig = mode == "immediate" ? SIGQUIT : SIGINT;
  kill(pid_, sig);
  auto rc = WaitExit(pid_);
  pid_ = -1;
  return rc.ok() ? absl::OkStatus() : rc.status();
}

absl::Status PgCluster::Restart() {
  if (pid_ > 0) return absl::FailedPreconditionError("cluster is running");
  return StartServer();
}

std::string PgCluster::LogTail(size_t max_bytes) const {
  std::string log = ReadFile(log_path_);
  if (log.size() > max_bytes) log = "...\n" + log.substr(log.size() - max_bytes);
  return log;
}

std::string UniqueName(const std::string& prefix) {
  static int counter = 0;
  return absl::StrCat(prefix, "_", getpid(), "_", ++counter);
}

std::string NewSlateDatabase(PgCluster& c, pg::TableType type) {
  const std::string name = UniqueName(type == pg::TableType::kSource ? "src" : "dst");
  const absl::Status created = c.CreateSlateDatabase(name, type);
  EXPECT_TRUE(created.ok()) << created;
  return name;
}

namespace {

PgCluster* g_shared = nullptr;

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto cluster = PgCluster::Start("shared");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    g_shared = cluster_.get();
  }
  void TearDown() override {
    g_shared = nullptr;
    cluster_.reset();
  }

 private:
  std::unique_ptr<PgCluster> cluster_;
};

class PrintLogOnFailure : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) return;
    for (PgCluster* c : LiveClusters()) {
      std::cerr << "----- PostgreSQL log of cluster '" << c->name() << "' (port " << c->port()
                << ") -----\n"
                << c->LogTail() << "\n----- end of log -----\n";
    }
  }
};

}  // namespace

PgCluster& SharedCluster() {
  if (g_shared == nullptr) {
    std::cerr << "SharedCluster() used without InstallPgEnvironment()\n";
    std::abort();
  }
  return *g_shared;
}

void InstallPgEnvironment() {
  ::testing::AddGlobalTestEnvironment(new PgEnvironment());
  ::testing::UnitTest::GetInstance()->listeners().Append(new PrintLogOnFailure());
}

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(errno)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace slate::testing
