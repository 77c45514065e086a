#pragma once

// Debian's abseil 20220623 ships no status macros; these are the project's only copies.
//
//   RETURN_IF_ERROR(DoThing());
//   ASSIGN_OR_RETURN(auto value, ComputeValue());

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SLATE_STATUS_CONCAT_INNER(a, b) a##b
#define SLATE_STATUS_CONCAT(a, b) SLATE_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    const ::absl::Status slate_status_ = (expr);   \
    if (!slate_status_.ok()) return slate_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr) \
  SLATE_ASSIGN_OR_RETURN_IMPL(SLATE_STATUS_CONCAT(slate_statusor_, __LINE__), lhs, expr)

#define SLATE_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)   \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
