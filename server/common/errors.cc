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

grpc::Status WithOutcome(const grpc::Status& status, WriteOutcome outcome) {
  if (status.ok() || outcome == WriteOutcome::kUnspecified || OutcomeOf(status) != WriteOutcome::kUnspecified) {
    return status;
  }
  v1::ErrorStatus details;
  if (!status.error_details().empty() && !details.ParseFromString(status.error_details())) details.Clear();
  details.set_code(static_cast<int32_t>(status.error_code()));
  details.set_message(status.error_message());
  v1::WriteOutcome o;
  o.set_outcome(outcome == WriteOutcome::kNotWritten ? v1::WriteOutcome::NOT_WRITTEN : v1::WriteOutcome::UNKNOWN);
  details.add_details()->PackFrom(o);
  return grpc::Status(status.error_code(), status.error_message(), details.SerializeAsString());
}

WriteOutcome OutcomeOf(const grpc::Status& status) {
  if (status.ok() || status.error_details().empty()) return WriteOutcome::kUnspecified;
  v1::ErrorStatus details;
  if (!details.ParseFromString(status.error_details())) return WriteOutcome::kUnspecified;
  for (const auto& any : details.details()) {
    v1::WriteOutcome o;
    if (!any.Is<v1::WriteOutcome>() || !any.UnpackTo(&o)) continue;
    if (o.outcome() == v1::WriteOutcome::NOT_WRITTEN) return WriteOutcome::kNotWritten;
    if (o.outcome() == v1::WriteOutcome::UNKNOWN) return WriteOutcome::kUnknown;
  }
  return WriteOutcome::kUnspecified;
}

grpc::Status SequenceReusedStatus(uint64_t producer_id, uint64_t sequence, uint64_t original_base_offset) {
  v1::SequenceReused e;
  e.set_producer_id(producer_id);
  e.set_sequence(sequence);
  e.set_original_base_offset(original_base_offset);
  return WithDetail(grpc::StatusCode::FAILED_PRECONDITION,
                    "producer " + std::to_string(producer_id) + " sent sequence " + std::to_string(sequence) +
                        " again with other records than the batch written under it at offset " +
                        std::to_string(original_base_offset) +
                        "; a sequence number must never be reused for other records (a client bug); nothing "
                        "was written",
                    e);
}

grpc::Status ProducerFencedStatus(uint64_t producer_id, uint32_t epoch, uint32_t current_epoch) {
  v1::ProducerFenced e;
  e.set_producer_id(producer_id);
  e.set_epoch(epoch);
  e.set_current_epoch(current_epoch);
  return WithDetail(grpc::StatusCode::FAILED_PRECONDITION,
                    "producer " + std::to_string(producer_id) + " epoch " + std::to_string(epoch) +
                        " is fenced: a newer instance of its name writes with epoch " +
                        std::to_string(current_epoch) + "; this instance must stop; nothing was written",
                    e);
}

grpc::Status UnknownProducerStatus(uint64_t producer_id, uint32_t epoch, uint64_t sequence) {
  v1::UnknownProducer e;
  e.set_producer_id(producer_id);
  e.set_epoch(epoch);
  e.set_received_sequence(sequence);
  return WithDetail(grpc::StatusCode::FAILED_PRECONDITION,
                    "the partition does not remember producer " + std::to_string(producer_id) + " at epoch " +
                        std::to_string(epoch) + " (new, or forgotten after 24 h idle or among more than 4096 " +
                        "producers) and sequence " + std::to_string(sequence) +
                        " is not 0, so it cannot tell whether earlier batches were written; start again with a "
                        "new producer id at sequence 0; nothing was written",
                    e);
}

grpc::Status AccessDeniedStatus(std::string_view principal, int action, int resource_type, std::string_view name,
                                std::string_view message) {
  v1::AccessDenied d;
  d.set_principal(std::string(principal));
  d.set_action(static_cast<v1::AclAction>(action));
  d.set_resource_type(static_cast<v1::AclResourceType>(resource_type));
  d.set_resource_name(std::string(name));
  return WithDetail(grpc::StatusCode::PERMISSION_DENIED, std::string(message), d);
}

grpc::Status QuotaExceededStatus(std::string_view quota, uint64_t bytes_per_second, uint32_t retry_delay_ms,
                                 std::string_view message) {
  v1::ResourceInfo info;
  info.set_limit(std::string(quota));
  info.set_value(bytes_per_second);
  v1::RetryInfo retry;
  retry.set_retry_delay_ms(retry_delay_ms);
  return WithDetail(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(message), info, &retry);
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace brook::server
