// The consumer on a compacted partition, against an in-process fake leader: offsets key compaction removed
// (FetchResponse.compacted) are skipped, not reported as gaps, also when an answer holds nothing else; tombstones
// are handed out flagged. Loopback only, no brookd: runs with the unit tests.
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "client/lib/consumer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace brook::client {
namespace {

// Partition 0 of topic "c", offsets [0, 12): records at 2, 5 (a tombstone) and 11; the rest was compacted away.
// Each Fetch answers one chunk, as a node would with small limits; the chunk at 6 holds only a removed range.
constexpr uint64_t kEnd = 12;

class CompactedLeader final : public v1::Log::Service, public v1::Admin::Service {
 public:
  CompactedLeader() {
    Chunk(0, 3, {{2, false}}, {{0, 2}});
    Chunk(3, 6, {{5, true}}, {{3, 5}});
    Chunk(6, 11, {}, {{6, 11}});
    Chunk(11, 12, {{11, false}}, {});
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(static_cast<v1::Log::Service*>(this));
    b.RegisterService(static_cast<v1::Admin::Service*>(this));
    server_ = b.BuildAndStart();
  }
  ~CompactedLeader() override { server_->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  grpc::Status GetMetadata(grpc::ServerContext*, const v1::GetMetadataRequest*,
                           v1::GetMetadataResponse* r) override {
    auto* n = r->add_nodes();
    n->set_id(1);
    n->set_client_address(address());
    auto* t = r->add_topics();
    t->set_name("c");
    t->set_partition_count(1);
    auto* info = t->add_partitions();
    info->set_leader_id(1);
    info->set_leader_term(1);
    return grpc::Status::OK;
  }
  grpc::Status ListOffsets(grpc::ServerContext*, const v1::ListOffsetsRequest* req,
                           v1::ListOffsetsResponse* resp) override {
    resp->set_offset(req->spec() == v1::ListOffsetsRequest::EARLIEST ? 0 : kEnd);
    resp->set_high_watermark(kEnd);
    return grpc::Status::OK;
  }
  grpc::Status Fetch(grpc::ServerContext*, const v1::FetchRequest* req, v1::FetchResponse* resp) override {
    resp->set_high_watermark(kEnd);
    resp->set_next_offset(req->offset());
    auto it = chunks_.find(req->offset());
    if (it != chunks_.end()) *resp = it->second;
    return grpc::Status::OK;
  }

 private:
  void Chunk(uint64_t at, uint64_t next, std::vector<std::pair<uint64_t, bool>> records,
             std::vector<std::pair<uint64_t, uint64_t>> removed) {
    v1::FetchResponse& r = chunks_[at];
    r.set_high_watermark(kEnd);
    r.set_next_offset(next);
    for (const auto& [offset, tombstone] : records) {
      auto* s = r.add_records();
      s->set_offset(offset);
      s->set_key(absl::StrCat("k", offset));
      if (tombstone) {
        s->set_tombstone(true);
      } else {
        s->set_value(absl::StrCat("v", offset));
      }
    }
    for (const auto& [start, end] : removed) {
      auto* g = r.add_compacted();
      g->set_reason(v1::Gap::COMPACTED);
      g->set_start_offset(start);
      g->set_end_offset(end);
    }
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::map<uint64_t, v1::FetchResponse> chunks_;  // by requested offset; written before the server starts
};

TEST(ConsumerOnACompactedTopic, SkipsRemovedOffsetsAndHandsOutTombstones) {
  CompactedLeader leader;
  ClientOptions o;
  o.bootstrap = {leader.address()};
  o.request_timeout = std::chrono::milliseconds(2000);
  auto consumer = *Consumer::Create(*Connection::Create(o));
  ASSERT_TRUE(consumer->Assign("c").ok());
  ASSERT_TRUE(consumer->Seek(0, 0).ok());
  std::vector<std::string> read;
  uint64_t skipped = 0;
  for (int polls = 0; polls < 20 && consumer->Position(0) < kEnd; ++polls) {
    auto result = consumer->Poll(std::chrono::milliseconds(300));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->gaps.empty()) << "removed offsets are not lost records";
    skipped += result->compacted_skipped;
    for (const auto& r : result->records) {
      read.push_back(absl::StrCat(r.record.offset(), ":", r.record.key(), "=",
                                  r.record.tombstone() ? "(x)" : r.record.value()));
    }
  }
  EXPECT_EQ(read, (std::vector<std::string>{"2:k2=v2", "5:k5=(x)", "11:k11=v11"}));
  EXPECT_EQ(skipped, 9u) << "offsets 0-1, 3-4 and 6-10";
  EXPECT_EQ(consumer->Position(0), kEnd) << "the chunk of removed offsets alone moved the position on";
}

}  // namespace
}  // namespace brook::client
