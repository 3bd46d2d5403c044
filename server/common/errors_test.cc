// gRPC statuses with brook.v1.ErrorStatus details (docs/api.md "Errors"): what a client can read back from
// error_details().
#include "server/common/errors.h"

#include <string>

#include "brook/v1/errors.pb.h"
#include "gtest/gtest.h"

namespace brook::server {
namespace {

// The ErrorStatus in `status`, checked to agree with the status's own code and message.
v1::ErrorStatus DetailsOf(const grpc::Status& status) {
  v1::ErrorStatus out;
  EXPECT_TRUE(out.ParseFromString(status.error_details())) << "error_details do not parse";
  EXPECT_EQ(out.code(), static_cast<int32_t>(status.error_code())) << "ErrorStatus.code must match the status";
  EXPECT_EQ(out.message(), status.error_message()) << "ErrorStatus.message must match the status";
  return out;
}

template <typename Detail>
bool Find(const v1::ErrorStatus& status, Detail* out) {
  for (const auto& any : status.details()) {
    if (any.UnpackTo(out)) return true;
  }
  return false;
}

TEST(ErrorStatus, NotLeaderNamesTheKnownLeaderWithoutRetryInfo) {
  auto status = NotLeaderStatus("orders", 4, /*leader_id=*/2, "10.0.0.2:7070", /*term=*/9);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto details = DetailsOf(status);
  v1::NotLeader hint;
  ASSERT_TRUE(Find(details, &hint)) << "a NotLeader detail lets the client go straight to the leader";
  EXPECT_EQ(hint.topic(), "orders");
  EXPECT_EQ(hint.partition(), 4u);
  EXPECT_EQ(hint.leader_id(), 2u);
  EXPECT_EQ(hint.leader_address(), "10.0.0.2:7070");
  EXPECT_EQ(hint.term(), 9u);
  v1::RetryInfo retry;
  EXPECT_FALSE(Find(details, &retry)) << "with a known leader the client retries there at once";
  EXPECT_NE(status.error_message().find("10.0.0.2:7070"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find("orders/4"), std::string::npos) << status.error_message();
}

TEST(ErrorStatus, NotLeaderWithUnknownLeaderAddsRetryInfo) {
  auto status = NotLeaderStatus("", 0, /*leader_id=*/0, "", /*term=*/3);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto details = DetailsOf(status);
  v1::NotLeader hint;
  ASSERT_TRUE(Find(details, &hint));
  EXPECT_EQ(hint.leader_id(), 0u);
  EXPECT_EQ(hint.topic(), "") << "\"\" means the metadata group";
  v1::RetryInfo retry;
  ASSERT_TRUE(Find(details, &retry)) << "no leader is known: tell the client how long to wait";
  EXPECT_GT(retry.retry_delay_ms(), 0u);
  EXPECT_NE(status.error_message().find("metadata group"), std::string::npos) << status.error_message();
}

TEST(ErrorStatus, InvalidFieldCarriesOneBadRequestViolation) {
  auto status = InvalidField("records[2].key", "is too long");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "records[2].key: is too long");
  v1::BadRequest bad;
  ASSERT_TRUE(Find(DetailsOf(status), &bad));
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "records[2].key");
  EXPECT_EQ(bad.field_violations(0).description(), "is too long");
}

TEST(ErrorStatus, RetryLaterOffsetMismatchAndSequenceErrorCarryTheirDetails) {
  auto busy = RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down", 25);
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::RetryInfo retry;
  ASSERT_TRUE(Find(DetailsOf(busy), &retry));
  EXPECT_EQ(retry.retry_delay_ms(), 25u);

  auto mismatch = OffsetMismatchStatus(10, 12);
  EXPECT_EQ(mismatch.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::OffsetMismatch m;
  ASSERT_TRUE(Find(DetailsOf(mismatch), &m));
  EXPECT_EQ(m.expected_offset(), 10u);
  EXPECT_EQ(m.log_end_offset(), 12u);

  auto gap = SequenceErrorStatus(77, 5, 9);
  EXPECT_EQ(gap.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::SequenceError e;
  ASSERT_TRUE(Find(DetailsOf(gap), &e));
  EXPECT_EQ(e.producer_id(), 77u);
  EXPECT_EQ(e.expected_sequence(), 5u);
  EXPECT_EQ(e.received_sequence(), 9u);
}

TEST(ErrorStatus, ToGrpcKeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  auto s = ToGrpc(absl::NotFoundError("topic 'x' does not exist"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "topic 'x' does not exist");
  EXPECT_TRUE(s.error_details().empty());
}

}  // namespace
}  // namespace brook::server
