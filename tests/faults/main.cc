#include "gtest/gtest.h"

#include "tests/support/pg_cluster.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  slate::testing::InstallPgEnvironment();
  return RUN_ALL_TESTS();
}
