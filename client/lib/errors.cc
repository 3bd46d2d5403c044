#include "client/lib/errors.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/any.pb.h"

namespace brook::client {
namespace {

ErrorInfo DecodeDetails(absl::StatusCode code, std::string message, const std::string& details) {
  ErrorInfo info;
  info.code = code;
  info.message = std::move(message);
  if (details.empty()) return info;
  v1::ErrorStatus status;
  if (!status.ParseFromString(details)) return info;
  for (const google::protobuf::Any& any : status.details()) {
    if (v1::NotLeader nl; any.Is<v1::NotLeader>() && any.UnpackTo(&nl)) {
      info.not_leader = nl;
    } else if (v1::RetryInfo ri; any.Is<v1::RetryInfo>() && any.UnpackTo(&ri)) {
      info.retry_delay_ms = ri.retry_delay_ms();
    } else if (v1::SequenceError se; any.Is<v1::SequenceError>() && any.UnpackTo(&se)) {
      info.sequence_error = se;
    } else if (v1::SequenceReused sr; any.Is<v1::SequenceReused>() && any.UnpackTo(&sr)) {
      info.sequence_reused = sr;
    } else if (v1::ProducerFenced pf; any.Is<v1::ProducerFenced>() && any.UnpackTo(&pf)) {
      info.producer_fenced = pf;
    } else if (v1::UnknownProducer up; any.Is<v1::UnknownProducer>() && any.UnpackTo(&up)) {
      info.unknown_producer = up;
    } else if (v1::GroupError ge; any.Is<v1::GroupError>() && any.UnpackTo(&ge)) {
      info.group_error = ge;
    } else if (v1::AccessDenied ad; any.Is<v1::AccessDenied>() && any.UnpackTo(&ad)) {
      info.access_denied = ad;
    } else if (v1::OffsetMismatch om; any.Is<v1::OffsetMismatch>() && any.UnpackTo(&om)) {
      info.offset_mismatch = om;
    } else if (v1::ResourceInfo res; any.Is<v1::ResourceInfo>() && any.UnpackTo(&res)) {
      info.resource_info = res;
    } else if (v1::WriteOutcome wo; any.Is<v1::WriteOutcome>() && any.UnpackTo(&wo)) {
      info.write_outcome = wo.outcome();
    } else if (v1::BadRequest br; any.Is<v1::BadRequest>() && any.UnpackTo(&br)) {
      for (const auto& v : br.field_violations()) info.field_violations.push_back(v);
    }
  }
  return info;
}

}  // namespace

ErrorInfo DecodeError(const grpc::Status& status) {
  return DecodeDetails(static_cast<absl::StatusCode>(status.error_code()), status.error_message(),
                       status.error_details());
}

ErrorInfo DecodeError(const absl::Status& status) {
  std::string details;
  if (auto payload = status.GetPayload(kErrorStatusPayloadUrl)) details = std::string(*payload);
  return DecodeDetails(status.code(), std::string(status.message()), details);
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) out.SetPayload(kErrorStatusPayloadUrl, absl::Cord(status.error_details()));
  return out;
}

Retry RetryRule(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
      return Retry::kAlways;
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:  // not by us: a server that shuts down cancels the calls it holds
      return Retry::kIfIdempotent;
    default:
      return Retry::kNever;
  }
}

bool CertainlyNotWritten(const ErrorInfo& error) {
  if (error.write_outcome && *error.write_outcome != v1::WriteOutcome::OUTCOME_UNSPECIFIED) {
    return *error.write_outcome == v1::WriteOutcome::NOT_WRITTEN;
  }
  switch (error.code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return true;
    case absl::StatusCode::kFailedPrecondition:
      return error.sequence_error.has_value() || error.offset_mismatch.has_value() ||
             error.sequence_reused.has_value() || error.producer_fenced.has_value() ||
             error.unknown_producer.has_value();
    default:
      return false;
  }
}

std::string Describe(const ErrorInfo& error) {
  std::string out = absl::StrCat(absl::StatusCodeToString(error.code), ": ", error.message);
  if (error.not_leader) {
    if (error.not_leader->leader_id() != 0) {
      absl::StrAppend(&out, " (leader ", error.not_leader->leader_id(), " at ", error.not_leader->leader_address(),
                      ")");
    } else {
      absl::StrAppend(&out, " (no leader known yet)");
    }
  }
  for (const auto& v : error.field_violations) absl::StrAppend(&out, " [", v.field(), ": ", v.description(), "]");
  return out;
}

}  // namespace brook::client
