#include "client/lib/errors.h"

#include "gtest/gtest.h"

namespace brook::client {
namespace {

grpc::Status WithDetails(grpc::StatusCode code, const std::string& message,
                         const std::vector<google::protobuf::Message*>& details) {
  v1::ErrorStatus es;
  es.set_code(code);
  es.set_message(message);
  for (auto* d : details) es.add_details()->PackFrom(*d);
  return grpc::Status(code, message, es.SerializeAsString());
}

TEST(DecodeError, ReadsNotLeaderAndRetryInfo) {
  v1::NotLeader nl;
  nl.set_topic("orders");
  nl.set_partition(3);
  nl.set_leader_id(2);
  nl.set_leader_address("127.0.0.1:7102");
  nl.set_term(9);
  v1::RetryInfo ri;
  ri.set_retry_delay_ms(50);
  const ErrorInfo e = DecodeError(WithDetails(grpc::StatusCode::UNAVAILABLE, "not the leader", {&nl, &ri}));
  EXPECT_EQ(e.code, absl::StatusCode::kUnavailable);
  EXPECT_EQ(e.message, "not the leader");
  ASSERT_TRUE(e.not_leader.has_value());
  EXPECT_EQ(e.not_leader->leader_id(), 2u);
  EXPECT_EQ(e.not_leader->term(), 9u);
  EXPECT_EQ(e.LeaderAddress(), "127.0.0.1:7102");
  EXPECT_EQ(e.retry_delay_ms, 50u);
}

TEST(DecodeError, ReadsSequenceErrorAndBadRequest) {
  v1::SequenceError se;
  se.set_producer_id(77);
  se.set_expected_sequence(10);
  se.set_received_sequence(20);
  v1::BadRequest br;
  auto* v = br.add_field_violations();
  v->set_field("records[3].value");
  v->set_description("is 2000000 bytes; the limit is 1048576");
  const ErrorInfo e = DecodeError(WithDetails(grpc::StatusCode::FAILED_PRECONDITION, "gap", {&se, &br}));
  ASSERT_TRUE(e.sequence_error.has_value());
  EXPECT_EQ(e.sequence_error->expected_sequence(), 10u);
  ASSERT_EQ(e.field_violations.size(), 1u);
  EXPECT_EQ(e.field_violations[0].field(), "records[3].value");
  EXPECT_NE(Describe(e).find("records[3].value"), std::string::npos);
}

TEST(DecodeError, ToleratesMissingOrGarbledDetails) {
  const ErrorInfo plain = DecodeError(grpc::Status(grpc::StatusCode::NOT_FOUND, "no topic"));
  EXPECT_EQ(plain.code, absl::StatusCode::kNotFound);
  EXPECT_FALSE(plain.not_leader.has_value());
  const ErrorInfo garbled = DecodeError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "x", "\xff\xff\xff"));
  EXPECT_EQ(garbled.code, absl::StatusCode::kUnavailable);
  EXPECT_FALSE(garbled.not_leader.has_value());
}

TEST(DecodeError, SurvivesConversionToAbslStatus) {
  v1::NotLeader nl;
  nl.set_leader_address("10.0.0.1:1");
  const absl::Status s = ToAbslStatus(WithDetails(grpc::StatusCode::UNAVAILABLE, "moved", {&nl}));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(DecodeError(s).LeaderAddress(), "10.0.0.1:1");
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK).ok());
}

TEST(RetryRule, RetriesOnlyWhatIsSafe) {
  EXPECT_EQ(RetryRule(absl::StatusCode::kUnavailable), Retry::kAlways);
  EXPECT_EQ(RetryRule(absl::StatusCode::kResourceExhausted), Retry::kAlways);
  EXPECT_EQ(RetryRule(absl::StatusCode::kDeadlineExceeded), Retry::kIfIdempotent);
  EXPECT_EQ(RetryRule(absl::StatusCode::kCancelled), Retry::kIfIdempotent);
  for (auto code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound, absl::StatusCode::kFailedPrecondition,
        absl::StatusCode::kAlreadyExists, absl::StatusCode::kOutOfRange}) {
    EXPECT_EQ(RetryRule(code), Retry::kNever) << absl::StatusCodeToString(code);
  }
}

TEST(CertainlyNotWritten, OnlyWhatTheServerSaysOrWhatCanMeanNothingElse) {
  v1::WriteOutcome not_written, unknown;
  not_written.set_outcome(v1::WriteOutcome::NOT_WRITTEN);
  unknown.set_outcome(v1::WriteOutcome::UNKNOWN);
  v1::SequenceError gap;
  v1::OffsetMismatch mismatch;
  auto decided = [](grpc::StatusCode code, std::vector<google::protobuf::Message*> details = {}) {
    return CertainlyNotWritten(DecodeError(WithDetails(code, "x", details)));
  };
  EXPECT_TRUE(decided(grpc::StatusCode::UNAVAILABLE, {&not_written}));
  EXPECT_TRUE(decided(grpc::StatusCode::INTERNAL, {&not_written}));
  EXPECT_TRUE(decided(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_TRUE(decided(grpc::StatusCode::NOT_FOUND));
  EXPECT_TRUE(decided(grpc::StatusCode::FAILED_PRECONDITION, {&gap}));
  EXPECT_TRUE(decided(grpc::StatusCode::FAILED_PRECONDITION, {&mismatch}));
  EXPECT_FALSE(decided(grpc::StatusCode::INVALID_ARGUMENT, {&unknown})) << "the server's word wins";
  EXPECT_FALSE(decided(grpc::StatusCode::FAILED_PRECONDITION));
  for (auto code :
       {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::CANCELLED,
        grpc::StatusCode::INTERNAL, grpc::StatusCode::UNKNOWN, grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    EXPECT_FALSE(decided(code)) << "no WriteOutcome: the outcome is unknown (code " << code << ")";
  }
}

}  // namespace
}  // namespace brook::client
