// Example: create a topic, describe it and the cluster.
//   brook_example_admin [BOOTSTRAP] [TOPIC] [PARTITIONS]
#include "client/lib/admin.h"

#include <cstdlib>
#include <iostream>
#include <string>

#include "client/lib/connection.h"

int main(int argc, char** argv) {
  using namespace brook::client;
  const std::string bootstrap = argc > 1 ? argv[1] : "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103";
  const std::string topic = argc > 2 ? argv[2] : "example";
  const int partitions = argc > 3 ? std::atoi(argv[3]) : 3;

  ClientOptions client_options;
  client_options.bootstrap = ParseBootstrap(bootstrap);
  auto connection = Connection::Create(client_options);
  if (!connection.ok()) {
    std::cerr << connection.status() << "\n";
    return 2;
  }
  Admin admin(*connection);
  auto created = admin.CreateTopic(topic, static_cast<uint32_t>(partitions));
  if (!created.ok() && created.status().code() != absl::StatusCode::kAlreadyExists) {
    std::cerr << "create: " << created.status() << "\n";
    return 1;
  }
  auto ready = admin.WaitForLeaders(topic, std::chrono::seconds(10));
  if (!ready.ok()) {
    std::cerr << "waiting for leaders: " << ready.status() << "\n";
    return 1;
  }
  for (const auto& p : ready->partitions()) {
    std::cout << topic << "/" << p.partition() << " leader " << p.leader_id() << " hw " << p.high_watermark()
              << "\n";
  }
  auto cluster = admin.DescribeCluster();
  if (!cluster.ok()) {
    std::cerr << "describe cluster: " << cluster.status() << "\n";
    return 1;
  }
  std::cout << "controller: node " << cluster->controller_id() << "\n";
  for (const auto& n : cluster->nodes()) {
    std::cout << "node " << n.id() << " " << n.client_address() << (n.reachable() ? "" : " (unreachable)") << "\n";
  }
  auto limits = admin.GetLimits();
  if (limits.ok()) std::cout << "max record bytes: " << limits->max_record_bytes() << "\n";
  return 0;
}
