// Example: read a topic from the beginning, print records, and commit the group's positions.
//   brook_example_consumer [BOOTSTRAP] [TOPIC] [GROUP]
#include "client/lib/consumer.h"

#include <iostream>
#include <string>

#include "client/lib/connection.h"

int main(int argc, char** argv) {
  using namespace brook::client;
  const std::string bootstrap = argc > 1 ? argv[1] : "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103";
  const std::string topic = argc > 2 ? argv[2] : "example";
  const std::string group = argc > 3 ? argv[3] : "example-group";

  ClientOptions client_options;
  client_options.bootstrap = ParseBootstrap(bootstrap);
  auto connection = Connection::Create(client_options);
  if (!connection.ok()) {
    std::cerr << connection.status() << "\n";
    return 2;
  }
  auto consumer = Consumer::Create(*connection);
  if (!consumer.ok()) return 1;
  Consumer& c = **consumer;
  if (auto s = c.Assign(topic); !s.ok()) {  // every partition
    std::cerr << s << "\n";
    return s.code() == absl::StatusCode::kNotFound ? 3 : 1;
  }
  if (auto s = c.Seek(OffsetSpec::kEarliest); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  // Read until a poll of one second finds nothing new (at most 100 polls).
  for (int polls = 0; polls < 100; ++polls) {
    auto result = c.Poll(std::chrono::seconds(1));
    if (!result.ok()) {
      std::cerr << result.status() << "\n";
      return 1;
    }
    for (const auto& gap : result->gaps) {
      std::cerr << "partition " << gap.partition << " skipped trimmed offsets [" << gap.gap.start_offset() << ", "
                << gap.gap.end_offset() << ")\n";
    }
    for (const auto& r : result->records) {
      std::cout << r.partition << "\t" << r.record.offset() << "\t" << r.record.key() << "\t" << r.record.value()
                << "\n";
    }
    if (result->empty()) break;
  }
  if (auto s = c.CommitPositions(group); !s.ok()) {
    std::cerr << "commit: " << s << "\n";
    return 1;
  }
  return 0;
}
