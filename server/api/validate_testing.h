// Test support for the validation tests: does a status reject a given field, with a BadRequest naming it.
#pragma once

#include <string>

#include "brook/v1/errors.pb.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"

namespace brook::server::testing {

// The field named by the BadRequest detail of `status`, or a description of what is missing.
inline std::string BadRequestField(const grpc::Status& status) {
  v1::ErrorStatus detail;
  if (!detail.ParseFromString(status.error_details())) return "<error_details do not parse as ErrorStatus>";
  if (detail.code() != static_cast<int32_t>(status.error_code())) return "<ErrorStatus.code differs from status>";
  for (const auto& any : detail.details()) {
    v1::BadRequest bad;
    if (any.UnpackTo(&bad)) {
      if (bad.field_violations_size() != 1) return "<BadRequest without exactly one violation>";
      return bad.field_violations(0).field();
    }
  }
  return "<no BadRequest detail>";
}

// Checks that `status` rejects `field`; returns a failure that quotes the status otherwise.
inline ::testing::AssertionResult RejectsField(const grpc::Status& status, const std::string& field) {
  if (status.ok()) return ::testing::AssertionFailure() << "accepted; want field '" << field << "' rejected";
  if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
    return ::testing::AssertionFailure()
           << "code " << status.error_code() << " (" << status.error_message() << "); want INVALID_ARGUMENT";
  }
  std::string got = BadRequestField(status);
  if (got != field) {
    return ::testing::AssertionFailure() << "BadRequest names '" << got << "', want '" << field
                                         << "' (message: " << status.error_message() << ")";
  }
  if (status.error_message().find(field) == std::string::npos) {
    return ::testing::AssertionFailure() << "message does not name the field: " << status.error_message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace brook::server::testing
