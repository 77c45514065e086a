#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include <pqxx/pqxx>

namespace slate::testing {

// Writers inserting through insert_events until stopped, riding out source outages.
class Writers {
 public:
  Writers(std::string conninfo, int threads) : conninfo_(std::move(conninfo)) {
    for (int w = 0; w < threads; ++w) {
      threads_.emplace_back([this, w] {
        int t = 0;
        while (!stop_) {
          try {
            pqxx::connection c(conninfo_);
            while (!stop_) {
              pqxx::work tx(c);
              std::string values;
              const int n = 1 + (t + w) % 10;
              for (int k = 1; k <= n; ++k) {
                absl::StrAppend(&values, k > 1 ? ", " : "", "($1[", k, "], $2, '{\"w\": ", w,
                                ", \"t\": ", t, ", \"k\": ", k, "}')");
              }
              tx.exec_params("SELECT insert_events($1)", values);
              tx.commit();
              ++t;
              ++committed_;
            }
          } catch (const std::exception&) {
            ++errors_;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // source away: retry
          }
        }
      });
    }
  }
  ~Writers() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  long long committed() const { return committed_; }
  long long errors() const { return errors_; }

 private:
  std::string conninfo_;
  std::atomic<bool> stop_{false};
  std::atomic<long long> committed_{0};
  std::atomic<long long> errors_{0};
  std::vector<std::thread> threads_;
};

}  // namespace slate::testing
