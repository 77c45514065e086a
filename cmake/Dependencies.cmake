# Every external dependency, found in one place. All come from Debian bookworm packages
# (deploy/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
# FindProtobuf (CMake's own module): protobuf::libprotobuf, protobuf::protoc, protobuf_generate().
find_package(Protobuf REQUIRED)
# Needs protobuf-compiler-grpc installed: the package checks that every codegen plugin exists.
find_package(gRPC CONFIG REQUIRED)
# libpqxx and libpq ship only pkg-config files on Debian.
# Config files parse with line/column errors (header-only, nlohmann-json3-dev).
find_package(nlohmann_json CONFIG REQUIRED)
# Prometheus metrics endpoint (prometheus-cpp-dev).
find_package(prometheus-cpp CONFIG REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
if(SLATE_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
