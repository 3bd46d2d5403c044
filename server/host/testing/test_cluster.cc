#include "server/host/testing/test_cluster.h"

#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"

namespace brook::server::testing {

void FakeNetwork::Send(uint64_t to, internal::MessageBatch batch) { cluster_->Queue(self_, to, std::move(batch)); }

uint64_t FakeNetwork::streams_ended(uint64_t peer) const {
  auto it = cluster_->streams_ended_.find({self_, peer});
  return it == cluster_->streams_ended_.end() ? 0 : it->second;
}

std::map<uint64_t, std::string> FakeNetwork::client_addresses() const {
  std::map<uint64_t, std::string> out;
  for (const auto& [id, node] : cluster_->nodes_) out[id] = absl::StrCat("n", id, ":7101");
  for (const auto& [id, address] : cluster_->advertised_) out[id] = address;
  return out;
}

TestCluster::TestCluster(int nodes, HostOptions base) : base_(std::move(base)) {
  std::string pattern = (std::filesystem::temp_directory_path() / "brook-host-test-XXXXXX").string();
  root_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  if (base_.seed == 0) base_.seed = 42;
  base_.initial_members.clear();
  for (int i = 1; i <= nodes; ++i) base_.initial_members.push_back(static_cast<uint64_t>(i));
  for (int i = 1; i <= nodes; ++i) {
    const uint64_t id = static_cast<uint64_t>(i);
    auto node = std::make_unique<Node>();
    node->dir = absl::StrCat(root_, "/n", id);
    storage::Options so;
    so.sync = false;
    so.entry_timestamp_ms = [](const raft::Entry& e) { return EntryAppendTime(e.data); };
    auto store = storage::Store::Open(node->dir, so);
    if (!store.ok()) abort();
    node->store = std::move(*store);
    node->network = std::make_unique<FakeNetwork>(this, id);
    HostOptions options = base_;
    options.node_id = id;
    node->host = std::make_unique<Host>(options, node->store.get(), node->network.get(), &clock_);
    nodes_[id] = std::move(node);
  }
  for (auto& [id, node] : nodes_) {
    if (!node->host->StartManual().ok()) abort();
  }
}

TestCluster::~TestCluster() {
  for (auto& [id, node] : nodes_) node->host->Stop();
  nodes_.clear();
  if (!root_.empty()) std::filesystem::remove_all(root_);
}

void TestCluster::Queue(uint64_t from, uint64_t to, internal::MessageBatch batch) {
  if (!Linked(from, to)) return;
  batch.set_from_node(from);
  batch.set_to_node(to);
  in_flight_.emplace_back(to, std::move(batch));
}

bool TestCluster::Linked(uint64_t a, uint64_t b) const {
  auto na = nodes_.find(a), nb = nodes_.find(b);
  if (na == nodes_.end() || nb == nodes_.end() || na->second->stopped || nb->second->stopped) return false;
  return !cut_.contains({std::min(a, b), std::max(a, b)}) && !one_way_.contains({a, b});
}

bool TestCluster::Round() {
  bool busy = false;
  for (auto& [id, node] : nodes_) {
    if (node->stopped || node->paused) continue;
    busy = node->host->HasInput() || busy;
    node->host->RunOnce();
  }
  auto delivering = std::move(in_flight_);
  in_flight_.clear();
  for (auto& [to, batch] : delivering) {
    if (!Linked(batch.from_node(), to)) continue;
    nodes_.at(to)->host->Deliver(std::move(batch));
    busy = true;
  }
  return busy;
}

bool TestCluster::RunUntil(const std::function<bool()>& done, int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    if (done()) return true;
    if (!Round()) clock_.Advance(base_.tick);
  }
  return done();
}

void TestCluster::RunTicks(int ticks) {
  for (int i = 0; i < ticks; ++i) {
    for (int settle = 0; settle < 50 && Round(); ++settle) {
    }
    clock_.Advance(base_.tick);
  }
}

void TestCluster::Cut(uint64_t a, uint64_t b) { cut_.insert({std::min(a, b), std::max(a, b)}); }

void TestCluster::Isolate(uint64_t id) {
  for (const auto& [other, node] : nodes_) {
    if (other != id) Cut(id, other);
  }
}

void TestCluster::StopHost(uint64_t id) {
  nodes_.at(id)->host->Stop();
  nodes_.at(id)->stopped = true;
}

void TestCluster::Kill(uint64_t id) {
  StopHost(id);
  for (const auto& [other, node] : nodes_) {
    if (other != id) ++streams_ended_[{other, id}];
  }
}

uint64_t TestCluster::WaitForController() {
  uint64_t controller = 0;
  RunUntil([&] {
    for (auto& [id, node] : nodes_) {
      if (node->stopped || !node->host->ready()) continue;
      auto view = node->host->cluster();
      if (view->controller == id) controller = id;
    }
    return controller != 0;
  });
  return controller;
}

uint64_t TestCluster::WaitForLeader(const std::string& topic, uint32_t partition) {
  uint64_t leader = 0;
  RunUntil([&] {
    for (auto& [id, node] : nodes_) {
      if (node->stopped) continue;
      auto view = View(id, topic, partition);
      if (view != nullptr && view->leader() == id) leader = id;
    }
    return leader != 0;
  });
  return leader;
}

grpc::Status TestCluster::CreateTopic(const std::string& name, uint32_t partitions, uint32_t replication_factor,
                                      v1::TopicConfig config) {
  v1::CreateTopicRequest req;
  req.set_name(name);
  req.set_partitions(partitions);
  req.set_replication_factor(replication_factor);
  *req.mutable_config() = std::move(config);
  Answer<v1::Topic> answer;
  // Like a client: retry what says "retry" (a controller that is still applying what earlier terms left).
  for (int attempt = 0; attempt < 50; ++attempt) {
    const uint64_t controller = WaitForController();
    if (controller == 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no controller elected");
    answer = {};
    host(controller).CreateTopic(req, [&answer](grpc::Status s, v1::Topic t) {
      ++answer.times;
      answer.status = std::move(s);
      answer.response = std::move(t);
    });
    RunUntil([&] { return answer.times > 0; });
    if (answer.times == 0) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "CreateTopic not answered");
    if (answer.status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    RunTicks(1);
  }
  if (!answer.status.ok()) return answer.status;
  for (uint32_t p = 0; p < partitions; ++p) {
    if (WaitForLeader(name, p) == 0) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, absl::StrCat("partition ", p, " has no leader"));
    }
  }
  return grpc::Status::OK;
}

std::shared_ptr<Answer<v1::ProduceResponse>> TestCluster::Produce(
    uint64_t node, const std::string& topic, uint32_t partition, const std::vector<std::string>& values,
    uint64_t producer_id, uint64_t sequence, std::optional<uint64_t> expected_offset, uint32_t producer_epoch) {
  std::vector<v1::Record> records(values.size());
  for (size_t i = 0; i < values.size(); ++i) records[i].set_value(values[i]);
  return Post(node, topic, partition, records, producer_id, sequence, expected_offset, producer_epoch);
}

std::shared_ptr<Answer<v1::ProduceResponse>> TestCluster::ProduceRecords(uint64_t node, const std::string& topic,
                                                                         uint32_t partition,
                                                                         const std::vector<v1::Record>& records,
                                                                         uint64_t producer_id, uint64_t sequence) {
  return Post(node, topic, partition, records, producer_id, sequence, std::nullopt, 0);
}

std::shared_ptr<Answer<v1::ProduceResponse>> TestCluster::Post(
    uint64_t node, const std::string& topic, uint32_t partition, const std::vector<v1::Record>& records,
    uint64_t producer_id, uint64_t sequence, std::optional<uint64_t> expected_offset, uint32_t producer_epoch) {
  v1::ProduceRequest req;
  req.set_topic(topic);
  req.set_partition(partition);
  req.set_producer_id(producer_id);
  req.set_producer_epoch(producer_epoch);
  req.set_sequence(sequence);
  for (const auto& r : records) *req.add_records() = r;
  if (expected_offset) req.set_expected_offset(*expected_offset);
  ProduceArgs args;
  args.topic = topic;
  args.partition = partition;
  args.producer_id = producer_id;
  args.producer_epoch = producer_epoch;
  args.sequence = sequence;
  args.record_count = static_cast<uint32_t>(records.size());
  args.expected_offset = expected_offset;
  args.plain = IsPlainProduce(req);
  auto answer = std::make_shared<Answer<v1::ProduceResponse>>();
  host(node).Produce(std::move(args), EncodeRecordBatch(req), [answer](grpc::Status s, v1::ProduceResponse r) {
    ++answer->times;
    answer->status = std::move(s);
    answer->response = std::move(r);
  });
  return answer;
}

Answer<v1::ProduceResponse> TestCluster::ProduceAndWait(uint64_t node, const std::string& topic,
                                                        uint32_t partition, const std::vector<std::string>& values,
                                                        uint64_t producer_id, uint64_t sequence,
                                                        std::optional<uint64_t> expected_offset,
                                                        uint32_t producer_epoch) {
  auto answer = Produce(node, topic, partition, values, producer_id, sequence, expected_offset, producer_epoch);
  RunUntil([&] { return answer->times > 0; });
  return *answer;
}

Answer<v1::InitProducerResponse> TestCluster::InitProducer(const std::string& name) {
  Answer<v1::InitProducerResponse> answer;
  for (int attempt = 0; attempt < 50; ++attempt) {
    const uint64_t controller = WaitForController();
    answer = {};
    host(controller).InitProducer(name, [&answer](grpc::Status s, v1::InitProducerResponse r) {
      ++answer.times;
      answer.status = std::move(s);
      answer.response = std::move(r);
    });
    RunUntil([&] { return answer.times > 0; });
    if (answer.status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    RunTicks(1);
  }
  return answer;
}

Answer<v1::Topic> TestCluster::AlterTopic(const v1::AlterTopicRequest& req, uint64_t node) {
  return Call<v1::Topic>([&](Host& h, auto done) { h.AlterTopic(req, std::move(done)); }, node);
}

std::shared_ptr<PartitionView> TestCluster::View(uint64_t node, const std::string& topic, uint32_t partition) {
  return nodes_.at(node)->host->cluster()->Find(topic, partition);
}

std::vector<std::string> TestCluster::ReadValues(uint64_t node, const std::string& topic, uint32_t partition,
                                                 uint64_t from) {
  std::vector<std::string> out;
  auto view = View(node, topic, partition);
  if (view == nullptr || from >= view->high_watermark()) return out;
  storage::Store& s = store(node);
  auto index = s.FindIndexForOffset(view->group(), from);
  if (!index.ok()) return out;
  auto entries = s.Entries(view->group(), *index, view->applied_index() + 1, UINT64_MAX);
  if (!entries.ok()) return out;
  for (const auto& e : *entries) {
    if (e.type != raft::EntryType::kNormal || EntryKindOf(e.data) != EntryKind::kRecordBatch) continue;
    auto batch = DecodeRecordBatch(e.data);
    if (!batch.ok()) continue;
    for (int i = 0; i < batch->records_size(); ++i) {
      if (RecordOffset(*batch, e.base_offset, i) >= from) out.push_back(batch->records(i).value());
    }
  }
  return out;
}

std::map<uint64_t, v1::Record> TestCluster::StoredRecords(uint64_t node, const std::string& topic,
                                                          uint32_t partition) {
  std::map<uint64_t, v1::Record> out;
  auto view = View(node, topic, partition);
  if (view == nullptr) return out;
  storage::Store& s = store(node);
  const raft::Index first = s.FirstIndex(view->group());
  auto entries = s.Entries(view->group(), first, view->applied_index() + 1, UINT64_MAX);
  if (!entries.ok()) return out;
  for (const auto& e : *entries) {
    if (e.type != raft::EntryType::kNormal || EntryKindOf(e.data) != EntryKind::kRecordBatch) continue;
    auto batch = DecodeRecordBatch(e.data);
    if (!batch.ok()) continue;
    for (int i = 0; i < batch->records_size(); ++i)
      out[RecordOffset(*batch, e.base_offset, i)] = batch->records(i);
  }
  return out;
}

}  // namespace brook::server::testing
