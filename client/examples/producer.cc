// Example: produce records with keys and wait for their offsets.
//   brook_example_producer [BOOTSTRAP] [TOPIC] [COUNT]
#include "client/lib/producer.h"

#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "client/lib/connection.h"

int main(int argc, char** argv) {
  using namespace brook::client;
  const std::string bootstrap = argc > 1 ? argv[1] : "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103";
  const std::string topic = argc > 2 ? argv[2] : "example";
  const int count = argc > 3 ? std::atoi(argv[3]) : 10;

  ClientOptions client_options;
  client_options.bootstrap = ParseBootstrap(bootstrap);
  auto connection = Connection::Create(client_options);
  if (!connection.ok()) {
    std::cerr << connection.status() << "\n";
    return 2;
  }
  ProducerOptions options;  // idempotent, 5 in flight per partition, 2 ms linger
  auto producer = Producer::Create(*connection, options);
  if (!producer.ok()) {
    std::cerr << producer.status() << "\n";
    return 1;
  }

  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < count; ++i) {
    brook::v1::Record record;
    record.set_key("user-" + std::to_string(i % 3));  // same key, same partition, in order
    record.set_value("event " + std::to_string(i));
    acks.push_back((*producer)->Send(topic, std::move(record)));
  }
  (*producer)->Flush();
  int failures = 0;
  for (auto& f : acks) {
    auto m = f.get();
    if (!m.ok()) {
      std::cerr << "failed: " << m.status() << "\n";
      ++failures;
      continue;
    }
    std::cout << m->topic << "/" << m->partition << " offset " << m->offset << "\n";
  }
  (*producer)->Close();
  return failures == 0 ? 0 : 1;
}
