# Warnings for our own targets only; generated and third-party headers come in as SYSTEM.
add_library(slate_warnings INTERFACE)
target_compile_options(slate_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
  -Wnon-virtual-dtor -Woverloaded-virtual -Wnull-dereference -Wformat=2)
if(SLATE_WARNINGS_AS_ERRORS)
  target_compile_options(slate_warnings INTERFACE -Werror)
endif()
if(SLATE_SANITIZERS AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12's flow analysis reports false positives inside libstdc++ (<regex>, std::function)
  # once sanitizer instrumentation is on; the plain build keeps the warning.
  target_compile_options(slate_warnings INTERFACE -Wno-maybe-uninitialized)
endif()
