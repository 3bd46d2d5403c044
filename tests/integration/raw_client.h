// A deliberately small client for integration tests of brookd, on the raw generated stubs (the client library
// has its own tests): leader lookup through GetMetadata, following NotLeader details, idempotent retries.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/groups.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace brook::testing {

class RawClient {
 public:
  explicit RawClient(std::vector<std::string> addresses);

  v1::Log::Stub& log(size_t i) { return *nodes_.at(i).log; }
  v1::Admin::Stub& admin(size_t i) { return *nodes_.at(i).admin; }
  v1::ConsumerGroups::Stub& groups(size_t i) { return *nodes_.at(i).groups; }
  size_t size() const { return nodes_.size(); }

  // Creates a topic on the controller (following NotLeader) and waits until every partition has a leader.
  grpc::Status CreateTopic(const std::string& name, uint32_t partitions, uint32_t replication = 3,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20),
                           const v1::TopicConfig& config = v1::TopicConfig());
  // Index (into the address list) of the node that leads the partition, per the node at `ask`; -1 if none.
  int Leader(const std::string& topic, uint32_t partition, size_t ask = 0);
  // Node id of the partition's leader as the live nodes see it (0 if none), asking every node in turn.
  uint64_t LeaderId(const std::string& topic, uint32_t partition);

  // Produces one batch, retrying UNAVAILABLE / RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED / CANCELLED (same producer
  // id and sequence, so retries never duplicate) and following NotLeader, until `timeout`. The final status and
  // response.
  grpc::Status Produce(const v1::ProduceRequest& req, v1::ProduceResponse* resp,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Reads [from, to) of a partition from node `node` (committed data only); fails the read on any error.
  grpc::Status ReadAll(size_t node, const std::string& topic, uint32_t partition, uint64_t from, uint64_t to,
                       std::vector<v1::StoredRecord>* out,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // The high watermark of a partition as node `node` serves it (ListOffsets LATEST), or nullopt on error.
  std::optional<uint64_t> HighWatermark(size_t node, const std::string& topic, uint32_t partition);

 private:
  struct NodeStubs {
    std::string address;
    std::unique_ptr<v1::Log::Stub> log;
    std::unique_ptr<v1::Admin::Stub> admin;
    std::unique_ptr<v1::ConsumerGroups::Stub> groups;
  };
  int IndexOf(const std::string& address) const;
  std::vector<NodeStubs> nodes_;
};

// Decodes the rich error details of a status (empty when there are none).
std::optional<v1::ErrorStatus> Details(const grpc::Status& status);
template <typename T>
std::optional<T> Detail(const grpc::Status& status) {
  auto details = Details(status);
  if (!details) return std::nullopt;
  for (const auto& any : details->details()) {
    T out;
    if (any.UnpackTo(&out)) return out;
  }
  return std::nullopt;
}

}  // namespace brook::testing
