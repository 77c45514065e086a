#include "tests/support/pg_cluster.h"

#include "gtest/gtest.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  slate::testing::InstallPgEnvironment();
  return RUN_ALL_TESTS();
}
