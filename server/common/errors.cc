#include "server/common/errors.h"

#include "brook/v1/errors.pb.h"

namespace brook::server {
namespace {

template <typename Detail>
grpc::Status WithDetail(grpc::StatusCode code, std::string message, const Detail& detail,
                        const v1::RetryInfo* retry = nullptr) {
  v1::ErrorStatus status;
  status.set_code(static_cast<int32_t>(code));
  status.set_message(message);
  status.add_details()->PackFrom(detail);
  if (retry != nullptr) status.add_details()->PackFrom(*retry);
  return grpc::Status(code, std::move(message), status.SerializeAsString());
}

}  // namespace

grpc::Status InvalidField(std::string_view field, std::string_view description) {
  v1::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field(std::string(field));
  v->set_description(std::string(description));
  std::string message = std::string(field) + ": " + std::string(description);
  return WithDetail(grpc::StatusCode::INVALID_ARGUMENT, std::move(message), bad);
}

grpc::Status NotLeaderStatus(std::string_view topic, uint32_t partition, uint64_t leader_id,
                             std::string_view leader_address, uint64_t term) {
  v1::NotLeader hint;
  hint.set_topic(std::string(topic));
  hint.set_partition(partition);
  hint.set_leader_id(leader_id);
  hint.set_leader_address(std::string(leader_address));
  hint.set_term(term);
  std::string what = topic.empty() ? std::string("the metadata group (controller)")
                                   : "partition " + std::string(topic) + "/" + std::to_string(partition);
  if (leader_id == 0) {
    v1::RetryInfo retry;
    retry.set_retry_delay_ms(100);
    return WithDetail(grpc::StatusCode::UNAVAILABLE,
                      "this node does not lead " + what + " and no leader is known yet (election running); retry",
                      hint, &retry);
  }
  return WithDetail(grpc::StatusCode::UNAVAILABLE,
                    "this node does not lead " + what + "; the leader is node " + std::to_string(leader_id) +
                        " at " +
                        (leader_address.empty() ? std::string("(address unknown)") : std::string(leader_address)),
                    hint);
}

grpc::Status RetryLater(grpc::StatusCode code, std::string_view message, uint32_t retry_delay_ms) {
  v1::RetryInfo retry;
  retry.set_retry_delay_ms(retry_delay_ms);
  return WithDetail(code, std::string(message), retry);
}

grpc::Status OffsetMismatchStatus(uint64_t expected, uint64_t log_end) {
  v1::OffsetMismatch m;
  m.set_expected_offset(expected);
  m.set_log_end_offset(log_end);
  return WithDetail(grpc::StatusCode::FAILED_PRECONDITION,
                    "expected_offset is " + std::to_string(expected) + " but the partition's log end offset is " +
                        std::to_string(log_end) + "; nothing was written",
                    m);
}

grpc::Status SequenceErrorStatus(uint64_t producer_id, uint64_t expected, uint64_t received) {
  v1::SequenceError e;
  e.set_producer_id(producer_id);
  e.set_expected_sequence(expected);
  e.set_received_sequence(received);
  return WithDetail(grpc::StatusCode::FAILED_PRECONDITION,
                    "producer " + std::to_string(producer_id) + " sent sequence " + std::to_string(received) +
                        " but the partition expects " + std::to_string(expected) +
                        " (earlier batches are missing); nothing was written",
                    e);
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace brook::server
