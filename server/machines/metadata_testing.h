// A test driver of the metadata state machine (server/machines tests only).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "server/machines/metadata_machine.h"

namespace brook::server {

// The metadata group as the controller drives it: Place, then propose and apply a command.
class Controller {
 public:
  explicit Controller(std::vector<uint64_t> nodes) : nodes_(std::move(nodes)) {
    EXPECT_TRUE(machine.Load({}).ok());
  }

  internal::TopicRecord PlaceTopic(const std::string& name, uint32_t partitions, uint32_t rf) const {
    v1::CreateTopicRequest req;
    req.set_name(name);
    req.set_partitions(partitions);
    req.set_replication_factor(rf);
    return MetadataMachine::Place(req, rf, nodes_, machine.state(), /*now_ms=*/5000);
  }

  MetadataMachine::Applied Create(const std::string& name, uint32_t partitions, uint32_t rf) {
    internal::MetadataCommand cmd;
    *cmd.mutable_create_topic()->mutable_topic() = PlaceTopic(name, partitions, rf);
    return Propose(cmd);
  }

  MetadataMachine::Applied Delete(const std::string& name, uint64_t topic_id = 0) {
    internal::MetadataCommand cmd;
    cmd.mutable_delete_topic()->set_name(name);
    cmd.mutable_delete_topic()->set_topic_id(topic_id);
    return Propose(cmd);
  }

  MetadataMachine::Applied Propose(const internal::MetadataCommand& cmd) {
    raft::Entry e;
    e.index = next_index_++;
    e.term = 1;
    e.data = cmd.SerializeAsString();
    StateDelta delta;
    auto applied = machine.Apply(e, &delta);
    EXPECT_TRUE(applied.ok()) << applied.status();
    for (const auto& [k, v] : delta.puts) stored[k] = v;
    return applied.ok() ? *applied : MetadataMachine::Applied{};
  }

  // Preferred leaders per node over every topic.
  std::map<uint64_t, int> LeaderCounts() const {
    std::map<uint64_t, int> counts;
    for (uint64_t n : nodes_) counts[n] = 0;
    for (const auto& [name, t] : machine.state().topics()) {
      for (const auto& p : t.partitions()) ++counts[p.replicas(0)];
    }
    return counts;
  }

  // The stored state without the index of the last entry applied (every entry moves it, refused ones too).
  std::string StateBytes() const {
    internal::MetadataState state;
    EXPECT_TRUE(state.ParseFromString(stored.at(std::string(MetadataMachine::kStateKey))));
    state.clear_state_index();
    std::string out;
    {
      google::protobuf::io::StringOutputStream stream(&out);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);  // maps in key order: equal states, equal bytes
      state.SerializeToCodedStream(&coded);
    }
    return out;
  }

  MetadataMachine machine;
  std::map<std::string, std::string> stored;

 private:
  std::vector<uint64_t> nodes_;
  raft::Index next_index_ = 1;
};

}  // namespace brook::server
