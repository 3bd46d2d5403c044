// Several Hosts in one process, for the host's scenario tests (server/host/host_test.cc): each node has its own
// real RocksDB store in a temporary directory (unsynced: the tests are about the host's logic, not the disk), the
// nodes talk through an in-process network whose links the test can cut, and time is a ManualClock that moves
// only when the test lets it.
//
// Deterministic: nothing runs on its own thread. A round runs one turn on every host (in id order), then
// delivers what the turns sent; the clock advances one tick only when a round left nothing to deliver and no
// host has input, so message delivery takes no time and every election and heartbeat is driven by ticks.
// Not thread-safe: one test thread drives it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "brook/v1/admin.pb.h"
#include "brook/v1/log.pb.h"
#include "server/host/host.h"

namespace brook::server::testing {

class TestCluster;

// The Network of one node in a TestCluster: sends go to the cluster's queue, addresses are "n<id>:7101" unless
// the test changes them (TestCluster::Advertise).
class FakeNetwork final : public Network {
 public:
  FakeNetwork(TestCluster* cluster, uint64_t self) : cluster_(cluster), self_(self) {}
  void Send(uint64_t to, internal::MessageBatch batch) override;
  std::map<uint64_t, std::string> client_addresses() const override;
  std::map<uint64_t, std::string> metrics_addresses() const override { return {}; }
  bool refused() const override { return false; }
  uint64_t streams_ended(uint64_t peer) const override;

 private:
  TestCluster* const cluster_;
  const uint64_t self_;
};

// What an operation answered, and how many times (a correct host answers exactly once).
template <typename Response>
struct Answer {
  int times = 0;
  grpc::Status status;
  Response response;
};

class TestCluster {
 public:
  // Starts `nodes` hosts (ids 1..nodes, all initial members of the metadata group) with manual turns.
  explicit TestCluster(int nodes, HostOptions base = {});
  ~TestCluster();

  Host& host(uint64_t id) { return *nodes_.at(id)->host; }
  storage::Store& store(uint64_t id) { return *nodes_.at(id)->store; }
  ManualClock& clock() { return clock_; }
  const HostOptions& options() const { return base_; }

  // Rounds until `done` holds or `max_rounds` ran; advances the clock a tick at a time while idle. Returns
  // whether `done` held.
  bool RunUntil(const std::function<bool()>& done, int max_rounds = 5000);
  // Advances the clock by `ticks` ticks, running rounds in between.
  void RunTicks(int ticks);

  // Node `id` advertises `client_address` from now on (as if it restarted on another address); its peers learn
  // it from its stream. The default is "n<id>:7101". A node id outside the cluster may be given too.
  void Advertise(uint64_t id, std::string client_address) { advertised_[id] = std::move(client_address); }

  // Drops every message between a and b (both directions) until Heal.
  void Cut(uint64_t a, uint64_t b);
  // Drops every message from `from` to `to` (one direction) until Heal.
  void CutOneWay(uint64_t from, uint64_t to) { one_way_.insert({from, to}); }
  // Cuts `id` from every other node.
  void Isolate(uint64_t id);
  void Heal() {
    cut_.clear();
    one_way_.clear();
  }
  // Stops a node's host (as brookd's shutdown does); its messages are dropped from then on.
  void StopHost(uint64_t id);
  // Stops a node's host like kill -9: every other node sees its stream end (Network::streams_ended).
  void Kill(uint64_t id);
  // Pauses a node like SIGSTOP: it runs no turns (no ticks, no sends) while messages to it queue in its inbox;
  // Resume lets it run again with everything that queued.
  void Pause(uint64_t id) { nodes_.at(id)->paused = true; }
  void Resume(uint64_t id) { nodes_.at(id)->paused = false; }

  // ---- Driving the cluster like a client -------------------------------------------------------------------
  // The node that leads the metadata group and serves, once there is one (waits for it); 0 if none in time.
  uint64_t WaitForController();
  // The node that leads `topic`'s partition and serves proposals (its barrier applied); 0 if none in time.
  uint64_t WaitForLeader(const std::string& topic, uint32_t partition);
  // Creates a topic through the controller and waits until every partition has a serving leader.
  grpc::Status CreateTopic(const std::string& name, uint32_t partitions, uint32_t replication_factor,
                           v1::TopicConfig config = {});
  // Posts a Produce of `values` to `node`; the answer is filled in as it arrives.
  std::shared_ptr<Answer<v1::ProduceResponse>> Produce(uint64_t node, const std::string& topic, uint32_t partition,
                                                       const std::vector<std::string>& values,
                                                       uint64_t producer_id = 0, uint64_t sequence = 0,
                                                       std::optional<uint64_t> expected_offset = std::nullopt,
                                                       uint32_t producer_epoch = 0);
  // Posts a Produce of whole records (keys, tombstones) to `node`; the answer is filled in as it arrives.
  std::shared_ptr<Answer<v1::ProduceResponse>> ProduceRecords(uint64_t node, const std::string& topic,
                                                              uint32_t partition,
                                                              const std::vector<v1::Record>& records,
                                                              uint64_t producer_id = 0, uint64_t sequence = 0);
  // InitProducer through the controller (retrying what says retry), then rounds until it is answered.
  Answer<v1::InitProducerResponse> InitProducer(const std::string& name);
  // Calls `call(host, done)` on `node`, or with node 0 on the controller, retrying there while it answers
  // UNAVAILABLE (up to 50 times); rounds until each call is answered.
  template <typename Response>
  Answer<Response> Call(const std::function<void(Host&, std::function<void(grpc::Status, Response)>)>& call,
                        uint64_t node = 0) {
    Answer<Response> answer;
    for (int attempt = 0; attempt < 50; ++attempt) {
      answer = {};
      call(host(node != 0 ? node : WaitForController()), [&answer](grpc::Status s, Response r) {
        ++answer.times;
        answer.status = std::move(s);
        answer.response = std::move(r);
      });
      RunUntil([&] { return answer.times > 0; });
      if (node != 0 || answer.status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      RunTicks(1);
    }
    return answer;
  }
  // AlterTopic on `node` (0: the controller, retrying what says retry).
  Answer<v1::Topic> AlterTopic(const v1::AlterTopicRequest& req, uint64_t node = 0);
  // Produce, then rounds until it is answered.
  Answer<v1::ProduceResponse> ProduceAndWait(uint64_t node, const std::string& topic, uint32_t partition,
                                             const std::vector<std::string>& values, uint64_t producer_id = 0,
                                             uint64_t sequence = 0,
                                             std::optional<uint64_t> expected_offset = std::nullopt,
                                             uint32_t producer_epoch = 0);
  // The partition's view on `node` (nullptr if not hosted there).
  std::shared_ptr<PartitionView> View(uint64_t node, const std::string& topic, uint32_t partition);
  // The records of a partition as `node` stores them, by offset, from its log start to its high watermark (a
  // batch that key compaction rewrote yields its survivors at their offsets).
  std::map<uint64_t, v1::Record> StoredRecords(uint64_t node, const std::string& topic, uint32_t partition);
  // The record values of a partition as `node` stores them, offsets [from, high watermark).
  std::vector<std::string> ReadValues(uint64_t node, const std::string& topic, uint32_t partition,
                                      uint64_t from = 0);

 private:
  friend class FakeNetwork;
  struct Node {
    std::string dir;
    std::unique_ptr<storage::Store> store;
    std::unique_ptr<FakeNetwork> network;
    std::unique_ptr<Host> host;
    bool stopped = false;
    bool paused = false;
  };
  void Queue(uint64_t from, uint64_t to, internal::MessageBatch batch);
  std::shared_ptr<Answer<v1::ProduceResponse>> Post(uint64_t node, const std::string& topic, uint32_t partition,
                                                    const std::vector<v1::Record>& records, uint64_t producer_id,
                                                    uint64_t sequence, std::optional<uint64_t> expected_offset,
                                                    uint32_t producer_epoch);
  // One round; returns whether anything was delivered or any host had input.
  bool Round();
  bool Linked(uint64_t a, uint64_t b) const;

  HostOptions base_;
  ManualClock clock_;
  std::string root_;
  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
  std::vector<std::pair<uint64_t, internal::MessageBatch>> in_flight_;  // (to, batch), sent this round
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::set<std::pair<uint64_t, uint64_t>> one_way_;                  // (from, to)
  std::map<uint64_t, std::string> advertised_;                       // Advertise()
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> streams_ended_;  // (at, from) -> streams from `from` ended
};

}  // namespace brook::server::testing
