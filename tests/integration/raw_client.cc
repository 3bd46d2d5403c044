#include "tests/integration/raw_client.h"

#include <thread>

namespace brook::testing {
namespace {

using Clock = std::chrono::steady_clock;

void Deadline(grpc::ClientContext& ctx, std::chrono::milliseconds d) {
  ctx.set_deadline(std::chrono::system_clock::now() + d);
}

}  // namespace

std::optional<v1::ErrorStatus> Details(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  v1::ErrorStatus out;
  if (!out.ParseFromString(status.error_details())) return std::nullopt;
  return out;
}

RawClient::RawClient(std::vector<std::string> addresses) {
  for (auto& a : addresses) {
    auto channel = grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
    nodes_.push_back(NodeStubs{a, v1::Log::NewStub(channel), v1::Admin::NewStub(channel),
                               v1::ConsumerGroups::NewStub(channel)});
  }
}

int RawClient::IndexOf(const std::string& address) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].address == address) return static_cast<int>(i);
  }
  return -1;
}

grpc::Status RawClient::CreateTopic(const std::string& name, uint32_t partitions, uint32_t replication,
                                    std::chrono::milliseconds timeout, const v1::TopicConfig& config) {
  auto deadline = Clock::now() + timeout;
  size_t target = 0;
  grpc::Status last;
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    Deadline(ctx, std::chrono::seconds(5));
    v1::CreateTopicRequest req;
    req.set_name(name);
    req.set_partitions(partitions);
    req.set_replication_factor(replication);
    *req.mutable_config() = config;
    v1::CreateTopicResponse resp;
    last = admin(target).CreateTopic(&ctx, req, &resp);
    if (last.ok() || last.error_code() == grpc::StatusCode::ALREADY_EXISTS) break;
    if (auto hint = Detail<v1::NotLeader>(last); hint && !hint->leader_address().empty()) {
      int i = IndexOf(hint->leader_address());
      if (i >= 0) target = static_cast<size_t>(i);
    } else {
      target = (target + 1) % nodes_.size();
    }
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!last.ok()) return last;
  for (uint32_t p = 0; p < partitions; ++p) {
    while (LeaderId(name, p) == 0) {
      if (Clock::now() >= deadline)
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no partition leader");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return grpc::Status::OK;
}

int RawClient::Leader(const std::string& topic, uint32_t partition, size_t ask) {
  grpc::ClientContext ctx;
  Deadline(ctx, std::chrono::seconds(2));
  v1::GetMetadataRequest req;
  req.add_topics(topic);
  v1::GetMetadataResponse resp;
  if (!admin(ask).GetMetadata(&ctx, req, &resp).ok() || resp.topics_size() == 0) return -1;
  const auto& t = resp.topics(0);
  if (partition >= static_cast<uint32_t>(t.partitions_size())) return -1;
  uint64_t leader = t.partitions(static_cast<int>(partition)).leader_id();
  for (const auto& n : resp.nodes()) {
    if (n.id() == leader && leader != 0) return IndexOf(n.client_address());
  }
  return -1;
}

uint64_t RawClient::LeaderId(const std::string& topic, uint32_t partition) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    grpc::ClientContext ctx;
    Deadline(ctx, std::chrono::seconds(1));
    v1::GetMetadataRequest req;
    req.add_topics(topic);
    v1::GetMetadataResponse resp;
    if (!admin(i).GetMetadata(&ctx, req, &resp).ok() || resp.topics_size() == 0) continue;
    const auto& t = resp.topics(0);
    if (partition < static_cast<uint32_t>(t.partitions_size())) {
      const auto& p = t.partitions(static_cast<int>(partition));
      // Trust only a node that says it is the leader itself.
      if (p.leader_id() != 0 && i == static_cast<size_t>(p.leader_id() - 1)) return p.leader_id();
    }
  }
  return 0;
}

grpc::Status RawClient::Produce(const v1::ProduceRequest& req, v1::ProduceResponse* resp,
                                std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int target = Leader(req.topic(), req.partition());
  if (target < 0) target = 0;
  grpc::Status last;
  auto backoff = std::chrono::milliseconds(10);
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    Deadline(ctx, std::chrono::seconds(3));
    last = log(static_cast<size_t>(target)).Produce(&ctx, req, resp);
    if (last.ok()) return last;
    auto code = last.error_code();
    // CANCELLED: a node shutting down cancels the calls it has not answered (outcome unknown, like a timeout).
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::RESOURCE_EXHAUSTED &&
        code != grpc::StatusCode::DEADLINE_EXCEEDED && code != grpc::StatusCode::CANCELLED) {
      return last;
    }
    auto hint = Detail<v1::NotLeader>(last);
    if (hint && !hint->leader_address().empty() && IndexOf(hint->leader_address()) >= 0) {
      target = IndexOf(hint->leader_address());
      continue;  // one round trip to the named leader, no sleep
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
    target = (target + 1) % static_cast<int>(nodes_.size());
  }
  return last;
}

grpc::Status RawClient::ReadAll(size_t node, const std::string& topic, uint32_t partition, uint64_t from,
                                uint64_t to, std::vector<v1::StoredRecord>* out,
                                std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  uint64_t next = from;
  while (next < to) {
    if (Clock::now() >= deadline) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "read did not reach the end offset in time");
    }
    grpc::ClientContext ctx;
    Deadline(ctx, std::chrono::seconds(5));
    v1::FetchRequest req;
    req.set_topic(topic);
    req.set_partition(partition);
    req.set_offset(next);
    req.set_max_records(5000);
    req.set_max_wait_ms(200);
    v1::FetchResponse resp;
    auto s = log(node).Fetch(&ctx, req, &resp);
    if (!s.ok()) {
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // replica catching up
        continue;
      }
      return s;
    }
    if (resp.has_gap()) return grpc::Status(grpc::StatusCode::DATA_LOSS, "unexpected gap");
    for (auto& r : *resp.mutable_records()) {
      if (r.offset() >= to) break;
      out->push_back(std::move(r));
    }
    next = resp.next_offset();
  }
  return grpc::Status::OK;
}

std::optional<uint64_t> RawClient::HighWatermark(size_t node, const std::string& topic, uint32_t partition) {
  grpc::ClientContext ctx;
  Deadline(ctx, std::chrono::seconds(2));
  v1::ListOffsetsRequest req;
  req.set_topic(topic);
  req.set_partition(partition);
  req.set_spec(v1::ListOffsetsRequest::LATEST);
  v1::ListOffsetsResponse resp;
  if (!log(node).ListOffsets(&ctx, req, &resp).ok()) return std::nullopt;
  return resp.offset();
}

}  // namespace brook::testing
