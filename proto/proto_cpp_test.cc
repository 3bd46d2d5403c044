// The C++ side of the wire contract: messages round-trip and services expose the methods later issues build on.
#include <gtest/gtest.h>

#include "brook/internal/transport.grpc.pb.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/groups.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"

namespace brook {
namespace {

TEST(ProtoContract, ProduceRequestRoundTripsWithOptionalExpectedOffset) {
  v1::ProduceRequest req;
  req.set_topic("orders");
  req.set_partition(3);
  req.set_producer_id(42);
  req.set_sequence(7);
  req.set_expected_offset(0);
  auto* record = req.add_records();
  record->set_key("k");
  record->set_value(std::string(1024, 'x'));
  v1::ProduceRequest back;
  ASSERT_TRUE(back.ParseFromString(req.SerializeAsString()));
  EXPECT_TRUE(back.has_expected_offset()) << "presence of expected_offset=0 must survive the wire";
  EXPECT_EQ(back.records(0).value().size(), 1024u);
}

TEST(ProtoContract, ErrorStatusCarriesNotLeaderDetail) {
  v1::NotLeader hint;
  hint.set_leader_id(2);
  hint.set_leader_address("127.0.0.1:7002");
  v1::ErrorStatus status;
  status.set_code(14);
  status.add_details()->PackFrom(hint);
  v1::ErrorStatus back;
  ASSERT_TRUE(back.ParseFromString(status.SerializeAsString()));
  v1::NotLeader got;
  ASSERT_TRUE(back.details(0).UnpackTo(&got));
  EXPECT_EQ(got.leader_address(), "127.0.0.1:7002");
}

TEST(ProtoContract, ServicesExposeEveryMethod) {
  EXPECT_EQ(v1::Log::service_full_name(), std::string("brook.v1.Log"));
  const auto* log = v1::ProduceRequest::descriptor()->file()->FindServiceByName("Log");
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->method_count(), 5);
  EXPECT_NE(log->FindMethodByName("InitProducer"), nullptr);
  EXPECT_TRUE(log->FindMethodByName("Subscribe")->server_streaming());
  const auto* admin = v1::Limits::descriptor()->file()->FindServiceByName("Admin");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->method_count(), 15);
  EXPECT_NE(admin->FindMethodByName("AlterTopic"), nullptr);
  const auto* transport = internal::MessageBatch::descriptor()->file()->FindServiceByName("NodeTransport");
  ASSERT_NE(transport, nullptr);
  EXPECT_TRUE(transport->FindMethodByName("Stream")->client_streaming());
}

}  // namespace
}  // namespace brook
