// Decoding of Brook's rich gRPC errors and the retry rules that follow from them.
//
// A failed call carries a serialized brook.v1.ErrorStatus in the `grpc-status-details-bin` trailer
// (grpc::Status::error_details()); its details name the leader (NotLeader), the wait (RetryInfo), the bad field
// (BadRequest) and so on. Everything here is pure: no I/O, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/groups.pb.h"
#include "grpcpp/support/status.h"

namespace brook::client {

// What a failed call said, with every detail the client can act on.
struct ErrorInfo {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  std::optional<v1::NotLeader> not_leader;
  std::optional<uint32_t> retry_delay_ms;  // RetryInfo
  std::optional<v1::SequenceError> sequence_error;
  std::optional<v1::SequenceReused> sequence_reused;
  std::optional<v1::ProducerFenced> producer_fenced;
  std::optional<v1::UnknownProducer> unknown_producer;
  std::optional<v1::OffsetMismatch> offset_mismatch;
  std::optional<v1::ResourceInfo> resource_info;
  std::optional<v1::GroupError> group_error;               // a consumer-group call's refusal (groups.proto)
  std::optional<v1::AccessDenied> access_denied;           // PERMISSION_DENIED: who, what action, which resource
  std::optional<v1::WriteOutcome::Outcome> write_outcome;  // absent: the server did not say (take it as UNKNOWN)
  std::vector<v1::BadRequest::FieldViolation> field_violations;

  // The named leader's client address, when the error is a NotLeader that knows it.
  std::string LeaderAddress() const { return not_leader ? not_leader->leader_address() : std::string(); }
};

// Decodes the status and its details; a missing or malformed trailer yields an ErrorInfo with code and message
// only.
ErrorInfo DecodeError(const grpc::Status& status);
// The same for an absl::Status made by ToAbslStatus (the ErrorStatus travels as a payload).
ErrorInfo DecodeError(const absl::Status& status);

// Type URL of the payload under which ToAbslStatus keeps the serialized ErrorStatus.
inline constexpr char kErrorStatusPayloadUrl[] = "type.googleapis.com/brook.v1.ErrorStatus";

// gRPC and Abseil share code numbers. Keeps the details as a payload so that DecodeError(absl::Status) works.
absl::Status ToAbslStatus(const grpc::Status& status);

// Whether a call that failed this way may be sent again.
enum class Retry {
  kNever,         // INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE, ...
  kAlways,        // UNAVAILABLE, RESOURCE_EXHAUSTED: the server did not act on the call.
  kIfIdempotent,  // DEADLINE_EXCEEDED, CANCELLED (a server shutting down cancels its calls): outcome unknown.
};
Retry RetryRule(absl::StatusCode code);

// Whether a failed writing call (Produce) certainly wrote nothing and never will: a WriteOutcome NOT_WRITTEN, or a
// status that can mean nothing else (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION with SequenceError,
// OffsetMismatch, SequenceReused, ProducerFenced or UnknownProducer). Anything else, e.g. INTERNAL or a deadline
// that passed on the client, may have been written: its producer id and sequence must not be given to other
// records (errors.proto WriteOutcome).
bool CertainlyNotWritten(const ErrorInfo& error);

// A one-line human description: "UNAVAILABLE: not the leader (leader 2 at 127.0.0.1:7102)".
std::string Describe(const ErrorInfo& error);

}  // namespace brook::client
