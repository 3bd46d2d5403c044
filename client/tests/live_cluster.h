// Shared set-up of the client's live-cluster tests: a 3-node brookd cluster from the test harness, a client
// connection to it, and bounded waits.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "client/lib/admin.h"
#include "client/lib/connection.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace brook::client::testing {

class LiveCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    brook::testing::ClusterOptions options;
    options.nodes = 3;
    auto cluster = brook::testing::Cluster::Start(options, std::chrono::seconds(30));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    ClientOptions client_options;
    client_options.bootstrap = cluster_->client_addresses();
    client_options.request_timeout = std::chrono::milliseconds(3000);
    client_options.call_timeout = std::chrono::milliseconds(20000);
    auto connection = Connection::Create(client_options);
    ASSERT_TRUE(connection.ok()) << connection.status();
    connection_ = *connection;
    admin_ = std::make_unique<Admin>(connection_);
  }

  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- node " << n.id << " log tail ----\n" << cluster_->LogTail(n.id, 25) << "\n";
      }
    }
  }

  // Creates `name` and waits until every partition has a leader.
  v1::Topic CreateTopic(const std::string& name, uint32_t partitions) {
    auto created = admin_->CreateTopic(name, partitions, 3);
    EXPECT_TRUE(created.ok()) << created.status();
    auto ready = admin_->WaitForLeaders(name, std::chrono::seconds(20));
    EXPECT_TRUE(ready.ok()) << ready.status();
    return ready.ok() ? *ready : v1::Topic();
  }

  // Polls `condition` every few ms until it holds or `timeout` passes.
  template <typename F>
  static bool WaitFor(F condition, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return condition();
  }

  std::unique_ptr<brook::testing::Cluster> cluster_;
  std::shared_ptr<Connection> connection_;
  std::unique_ptr<Admin> admin_;
};

}  // namespace brook::client::testing
