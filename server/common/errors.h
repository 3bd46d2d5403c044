// Building gRPC statuses with machine-readable details (brook.v1.ErrorStatus in the grpc-status-details-bin
// trailer, docs/api.md "Errors"), and mapping internal absl::Status values to them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace brook::server {

// INVALID_ARGUMENT with one BadRequest field violation. `description` says what is wrong and what is accepted.
grpc::Status InvalidField(std::string_view field, std::string_view description);

// UNAVAILABLE + NotLeader (+ RetryInfo when the leader is unknown). `topic` "" means the metadata group.
grpc::Status NotLeaderStatus(std::string_view topic, uint32_t partition, uint64_t leader_id,
                             std::string_view leader_address, uint64_t term);

// UNAVAILABLE or RESOURCE_EXHAUSTED (per `code`) with a RetryInfo.
grpc::Status RetryLater(grpc::StatusCode code, std::string_view message, uint32_t retry_delay_ms);

// FAILED_PRECONDITION + OffsetMismatch.
grpc::Status OffsetMismatchStatus(uint64_t expected, uint64_t log_end);

// FAILED_PRECONDITION + SequenceError.
grpc::Status SequenceErrorStatus(uint64_t producer_id, uint64_t expected, uint64_t received);

// Plain translation of an absl::Status (same code and message, no details).
grpc::Status ToGrpc(const absl::Status& status);

// What became of a writing call (brook.v1.WriteOutcome, errors.proto): the server attaches one to every error of
// Produce, CommitOffsets, CreateTopic and DeleteTopic.
enum class WriteOutcome {
  kUnspecified = 0,
  kNotWritten = 1,  // nothing was written and nothing will be: safe to resend
  kUnknown = 2,     // proposed, then the answer was lost (leadership changed, node stopping): maybe written
};
// `status` with a WriteOutcome detail added. OK statuses, and statuses that already say, are returned unchanged.
grpc::Status WithOutcome(const grpc::Status& status, WriteOutcome outcome);
// The WriteOutcome `status` carries (kUnspecified when none).
WriteOutcome OutcomeOf(const grpc::Status& status);

// FAILED_PRECONDITION + SequenceReused: a batch came with an idempotent producer's (producer id, sequence) and
// other content than the batch written under them.
grpc::Status SequenceReusedStatus(uint64_t producer_id, uint64_t sequence, uint64_t original_base_offset);
// FAILED_PRECONDITION + ProducerFenced: a newer instance of the producer's name took its id over.
grpc::Status ProducerFencedStatus(uint64_t producer_id, uint32_t epoch, uint32_t current_epoch);
// FAILED_PRECONDITION + UnknownProducer: not remembered at this epoch and not starting at sequence 0.
grpc::Status UnknownProducerStatus(uint64_t producer_id, uint32_t epoch, uint64_t sequence);

// PERMISSION_DENIED + AccessDenied: no ACL rule lets `principal` do `action` (a brook.v1.AclAction) to the
// resource (a brook.v1.AclResourceType and its name).
grpc::Status AccessDeniedStatus(std::string_view principal, int action, int resource_type, std::string_view name,
                                std::string_view message);
// RESOURCE_EXHAUSTED + ResourceInfo (the quota's name and rate) + RetryInfo: a principal's byte-rate quota.
grpc::Status QuotaExceededStatus(std::string_view quota, uint64_t bytes_per_second, uint32_t retry_delay_ms,
                                 std::string_view message);

}  // namespace brook::server
