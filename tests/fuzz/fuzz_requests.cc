// Every public RPC's request as the server receives it: the input is parsed as each brook.v1 request message
// (gRPC hands the services a message parsed from the wire bytes, as ParseFromArray does) and run through the
// check its service runs first (server/api/validate.h). What a valid request turns into is checked too: a
// Produce's entry data decodes back to the same records, a CommitOffsets' entries decode back, a CreateTopic is
// placed and applied, an InitProducer applied.
//
// Properties: no crash; every refusal is INVALID_ARGUMENT with a message and a BadRequest; encodings round-trip.
#include <cstdint>
#include <string>

#include "brook/v1/admin.pb.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/groups.pb.h"
#include "brook/v1/log.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/api/validate.h"
#include "server/codec/entry_codec.h"
#include "server/machines/metadata_machine.h"
#include "tests/fuzz/fuzz_util.h"

namespace brook::server {
namespace {

using fuzz::Fail;

// A refusal must say what to fix: INVALID_ARGUMENT, a message, and details that parse as a BadRequest.
void CheckRefusal(const grpc::Status& s) {
  if (s.ok()) return;
  if (s.error_code() != grpc::StatusCode::INVALID_ARGUMENT) Fail("a validation refusal is not INVALID_ARGUMENT");
  if (s.error_message().empty()) Fail("a validation refusal has no message");
  v1::ErrorStatus details;
  if (!details.ParseFromString(s.error_details())) Fail("a validation refusal's details do not parse");
}

template <typename Request>
bool Parse(std::string_view bytes, Request* req) {
  return req->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void CheckProduceEncoding(const v1::ProduceRequest& req) {
  std::string data = EncodeRecordBatch(req);
  StampAppendTime(data, 1700000000000);
  if (!VerifyEntryData(data).ok()) Fail("a valid Produce encodes to entry data that does not verify");
  if (EntryKindOf(data) != EntryKind::kRecordBatch) Fail("a Produce's entry kind is not a record batch");
  if (EntryAppendTime(data) != 1700000000000) Fail("the stamped append time does not read back");
  auto batch = DecodeRecordBatch(data);
  if (!batch.ok()) Fail("a valid Produce's entry data does not decode");
  if (batch->records_size() != req.records_size()) Fail("a Produce's record count changed in its entry");
  for (int i = 0; i < req.records_size(); ++i) {
    if (batch->records(i).SerializeAsString() != req.records(i).SerializeAsString()) {
      Fail("a Produce's record changed in its entry");
    }
  }
  if (batch->producer_id() != req.producer_id() || batch->sequence() != req.sequence() ||
      batch->producer_epoch() != req.producer_epoch()) {
    Fail("a Produce's producer id, sequence or epoch changed in its entry");
  }
}

void CheckOffsetCommits(const v1::CommitOffsetsRequest& req) {
  for (const auto& po : req.offsets()) {  // as server/host/offsets.cc builds one entry per partition
    internal::OffsetCommit commit;
    commit.set_group(req.group());
    commit.set_partition(po.partition());
    commit.set_offset(po.offset());
    commit.set_metadata(po.metadata());
    auto back = DecodeOffsetCommit(EncodeOffsetCommit(commit));
    if (!back.ok() || back->SerializeAsString() != commit.SerializeAsString()) {
      Fail("an offset commit does not decode back");
    }
  }
}

// Each entry has the next index, as in a real log: the metadata machine skips an entry whose index its state
// already reflects (MetadataState.state_index).
raft::Entry MetadataEntry(const internal::MetadataCommand& cmd) {
  static raft::Index next_index = 0;
  raft::Entry e;
  e.index = ++next_index;
  e.term = 1;
  e.data = cmd.SerializeAsString();
  return e;
}

// The controller's part of CreateTopic (server/host/topics.cc): replication factor, placement, apply.
void CheckCreateTopic(const v1::CreateTopicRequest& req) {
  fuzz::AllocationBoundPause pause;  // up to Limits::kMaxPartitionsPerTopic partitions from a few bytes
  const std::vector<uint64_t> nodes = {1, 2, 3};
  const uint32_t rf = EffectiveReplicationFactor(req, static_cast<uint32_t>(nodes.size()));
  if (rf > nodes.size()) return;  // FAILED_PRECONDITION
  MetadataMachine machine;
  if (!machine.Load({}).ok()) Fail("an empty metadata state does not load");
  internal::MetadataCommand cmd;
  *cmd.mutable_create_topic()->mutable_topic() = MetadataMachine::Place(req, rf, nodes, machine.state(), 0);
  if (cmd.create_topic().topic().partitions_size() != static_cast<int>(req.partitions())) {
    Fail("a topic was placed with another number of partitions");
  }
  StateDelta delta;
  auto applied = machine.Apply(MetadataEntry(cmd), &delta);
  if (!applied.ok() || !applied->status.ok()) Fail("a placed topic does not apply");
}

// The controller's check of an AlterTopic and the metadata machine's apply agree: a change the check accepts
// applies and leaves exactly the merged config; one it refuses is refused at apply too and changes nothing.
void CheckAlterTopic(const v1::AlterTopicRequest& req) {
  fuzz::AllocationBoundPause pause;  // a metadata machine of its own
  MetadataMachine machine;
  if (!machine.Load({}).ok()) Fail("an empty metadata state does not load");
  internal::MetadataCommand create;
  auto* topic = create.mutable_create_topic()->mutable_topic();
  topic->set_name(req.name());
  topic->add_partitions()->add_replicas(1);
  topic->mutable_config()->set_cleanup_policy(req.expected_topic_id() % 2 == 0 ? v1::CLEANUP_DELETE
                                                                               : v1::CLEANUP_COMPACT);
  StateDelta delta;
  if (auto a = machine.Apply(MetadataEntry(create), &delta); !a.ok() || !a->status.ok())
    Fail("a topic not created");
  // Every entry moves the index the state reflects (state_index), a refused one too; the rest must not move.
  internal::MetadataState before = machine.state();
  before.clear_state_index();
  v1::TopicConfig merged;
  grpc::Status check =
      AlterTopicConfig(machine.state().topics().at(req.name()).config(), req.set(), req.config(), &merged);
  CheckRefusal(check);
  internal::MetadataCommand cmd;
  cmd.mutable_alter_topic()->set_name(req.name());
  *cmd.mutable_alter_topic()->mutable_set() = req.set();
  *cmd.mutable_alter_topic()->mutable_config() = req.config();
  auto applied = machine.Apply(MetadataEntry(cmd), &delta);
  if (!applied.ok()) Fail("an AlterTopic entry is corrupt");
  if (check.ok() != applied->status.ok()) Fail("the controller's check and the apply disagree on an AlterTopic");
  if (check.ok() &&
      machine.state().topics().at(req.name()).config().SerializeAsString() != merged.SerializeAsString()) {
    Fail("an applied AlterTopic left another config than the check merged");
  }
  internal::MetadataState after = machine.state();
  after.clear_state_index();
  if (!check.ok() && !google::protobuf::util::MessageDifferencer::Equals(before, after)) {
    Fail("a refused AlterTopic changed the state");
  }
}

void CheckInitProducer(const v1::InitProducerRequest& req) {
  fuzz::AllocationBoundPause pause;  // a metadata machine of its own
  MetadataMachine machine;
  if (!machine.Load({}).ok()) Fail("an empty metadata state does not load");
  internal::MetadataCommand cmd;
  cmd.mutable_init_producer()->set_producer_name(req.producer_name());
  StateDelta delta;
  auto applied = machine.Apply(MetadataEntry(cmd), &delta);
  if (!applied.ok() || !applied->status.ok() || applied->producer_id == 0) Fail("an InitProducer does not apply");
}

void FuzzOne(std::string_view bytes) {
  if (v1::ProduceRequest r; Parse(bytes, &r)) {
    auto s = ValidateProduce(r);
    CheckRefusal(s);
    if (s.ok()) CheckProduceEncoding(r);
  }
  if (v1::InitProducerRequest r; Parse(bytes, &r)) {
    auto s = ValidateInitProducer(r);
    CheckRefusal(s);
    if (s.ok()) CheckInitProducer(r);
  }
  if (v1::FetchRequest r; Parse(bytes, &r)) CheckRefusal(ValidateFetch(r));
  if (v1::SubscribeRequest r; Parse(bytes, &r)) CheckRefusal(ValidateSubscribe(r));
  if (v1::ListOffsetsRequest r; Parse(bytes, &r)) CheckRefusal(ValidateListOffsets(r));
  if (v1::CreateTopicRequest r; Parse(bytes, &r)) {
    auto s = ValidateCreateTopic(r);
    CheckRefusal(s);
    if (s.ok()) CheckCreateTopic(r);
  }
  if (v1::AlterTopicRequest r; Parse(bytes, &r)) {
    auto s = ValidateAlterTopic(r);
    CheckRefusal(s);
    if (s.ok()) CheckAlterTopic(r);
  }
  if (v1::DeleteTopicRequest r; Parse(bytes, &r)) CheckRefusal(ValidateTopicName("name", r.name()));
  if (v1::DescribeTopicRequest r; Parse(bytes, &r)) CheckRefusal(ValidateTopicName("name", r.name()));
  if (v1::TransferLeadershipRequest r; Parse(bytes, &r)) CheckRefusal(ValidateTopicName("topic", r.topic()));
  if (v1::GetMetadataRequest r; Parse(bytes, &r)) {
    // No validation: names are looked up as they are.
  }
  if (v1::CommitOffsetsRequest r; Parse(bytes, &r)) {
    auto s = ValidateCommitOffsets(r);
    CheckRefusal(s);
    if (s.ok()) CheckOffsetCommits(r);
  }
  if (v1::FetchOffsetsRequest r; Parse(bytes, &r)) CheckRefusal(ValidateFetchOffsets(r));
}

}  // namespace
}  // namespace brook::server

// Protobuf builds descriptors lazily on first use (the error details' Any): do that before allocations count.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  brook::server::FuzzOne("");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brook::fuzz::AllocationBound bound(size);
  brook::server::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
