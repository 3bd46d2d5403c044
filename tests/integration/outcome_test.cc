// Every answer tells the truth about the outcome, through real brookd processes, as a client written from the
// protos alone sees it: written (OK), not written and maybe written are distinguishable in the details
// (WriteOutcome); a node stopping gracefully never says a live topic was deleted; a replica that is behind never
// says an offset was never committed; a sequence reused for other records is refused; a named producer's new
// instance fences the old one, also after the controller restarts.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

v1::WriteOutcome::Outcome OutcomeOf(const grpc::Status& s) {
  auto o = Detail<v1::WriteOutcome>(s);
  return o ? o->outcome() : v1::WriteOutcome::OUTCOME_UNSPECIFIED;
}

class OutcomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start(ClusterOptions{});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = std::make_unique<RawClient>(cluster_->client_addresses());
  }

  grpc::Status Produce(size_t node, const v1::ProduceRequest& req, v1::ProduceResponse* resp,
                       std::chrono::milliseconds timeout = 5s) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    return client_->log(node).Produce(&ctx, req, resp);
  }

  static v1::ProduceRequest One(const std::string& topic, const std::string& value) {
    v1::ProduceRequest req;
    req.set_topic(topic);
    req.add_records()->set_value(value);
    return req;
  }

  size_t LeaderIndex(const std::string& topic) {
    uint64_t id = client_->LeaderId(topic, 0);
    EXPECT_NE(id, 0u);
    return static_cast<size_t>(id == 0 ? 0 : id - 1);
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<RawClient> client_;
};

// Non-idempotent writers (no producer id: a client written from the protos alone, without retries) hammer a
// partition while its leader restarts gracefully. Every error says what happened, and says it truthfully: nothing
// answered NOT_WRITTEN is in the log, everything answered OK is, at its offset. Before WriteOutcome, "leadership
// moved; outcome unknown" and "node is shutting down" were the same UNAVAILABLE without details.
TEST_F(OutcomeTest, DuringAGracefulRestartEveryAnswerSaysWrittenNotWrittenOrUnknownTruthfully) {
  ASSERT_TRUE(client_->CreateTopic("truth", 1).ok());
  const size_t leader = LeaderIndex("truth");
  std::mutex mu;
  std::map<std::string, uint64_t> written;  // value -> acknowledged offset
  std::set<std::string> not_written, unknown;
  std::atomic<bool> stop{false};
  std::atomic<int> unspecified{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      size_t target = leader;
      for (int i = 0; i < 20000 && !stop.load(); ++i) {
        const std::string value = absl::StrCat("w", w, "-", i);
        v1::ProduceResponse resp;
        grpc::Status s = Produce(target, One("truth", value), &resp, 2s);
        std::lock_guard lock(mu);
        if (s.ok()) {
          written[value] = resp.base_offset();
          continue;
        }
        if (OutcomeOf(s) == v1::WriteOutcome::NOT_WRITTEN) {
          not_written.insert(value);
        } else {
          // A deadline, a refused or dropped connection, a cancelled call carry no details: the client must take
          // them as unknown. Every answer the server gave must say.
          if (!s.error_details().empty() && OutcomeOf(s) != v1::WriteOutcome::UNKNOWN) {
            unspecified.fetch_add(1);
            ADD_FAILURE() << "an answer without WriteOutcome: " << s.error_code() << " " << s.error_message();
          }
          unknown.insert(value);
        }
        // Like a simple client: go where NotLeader points, else try the next node after a pause.
        auto hint = Detail<v1::NotLeader>(s);
        if (hint && hint->leader_id() != 0) {
          target = static_cast<size_t>(hint->leader_id() - 1);
        } else {
          target = (target + 1) % 3;
          std::this_thread::sleep_for(20ms);
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);  // writes flowing before the restart (not a synchronization)
  ASSERT_TRUE(cluster_->Terminate(leader + 1, 10s).ok());
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(cluster_->Restart(leader + 1).ok());
  ASSERT_TRUE(cluster_->WaitReady(leader + 1, 20s).ok());
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& t : writers) t.join();

  const uint64_t new_leader = client_->LeaderId("truth", 0);
  ASSERT_NE(new_leader, 0u);
  const auto end = client_->HighWatermark(new_leader - 1, "truth", 0);
  ASSERT_TRUE(end.has_value());
  std::vector<v1::StoredRecord> log;
  ASSERT_TRUE(client_->ReadAll(new_leader - 1, "truth", 0, 0, *end, &log).ok());
  std::map<std::string, uint64_t> in_log;
  for (const auto& r : log) in_log[r.value()] = r.offset();
  for (const auto& [value, offset] : written) {
    auto it = in_log.find(value);
    ASSERT_NE(it, in_log.end()) << value << " was acknowledged but is not in the log";
    EXPECT_EQ(it->second, offset) << value;
  }
  for (const auto& value : not_written) {
    EXPECT_FALSE(in_log.contains(value)) << value << " was answered NOT_WRITTEN but is in the log";
  }
  EXPECT_EQ(unspecified.load(), 0);
  EXPECT_GT(written.size(), 0u);
  EXPECT_GT(not_written.size() + unknown.size(), 0u) << "the restart should have refused or lost some calls";
  std::printf("written %zu, not written %zu, unknown %zu (of them in the log: %zu)\n", written.size(),
              not_written.size(), unknown.size(),
              static_cast<size_t>(std::count_if(unknown.begin(), unknown.end(),
                                                [&](const std::string& v) { return in_log.contains(v); })));
}

// A long-poll at the end of a live topic, on a node that stops gracefully, ends with "retry elsewhere", never with
// NOT_FOUND "topic was deleted" (which tells a consumer to stop reading a live topic).
TEST_F(OutcomeTest, AFetchOnAStoppingNodeNeverSaysTheTopicWasDeleted) {
  ASSERT_TRUE(client_->CreateTopic("live", 1).ok());
  v1::ProduceResponse resp;
  ASSERT_TRUE(client_->Produce(One("live", "x"), &resp).ok());
  const size_t node = (LeaderIndex("live") + 1) % 3;  // a follower: its partition view goes away as it stops
  ASSERT_TRUE(client_->HighWatermark(node, "live", 0).has_value());
  std::vector<grpc::Status> answers(4);
  std::vector<std::thread> readers;
  for (size_t i = 0; i < answers.size(); ++i) {
    readers.emplace_back([&, i] {
      v1::FetchRequest f;
      f.set_topic("live");
      f.set_offset(1);  // the end: nothing to read yet
      f.set_max_wait_ms(20000);
      v1::FetchResponse r;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 25s);
      answers[i] = client_->log(node).Fetch(&ctx, f, &r);
    });
  }
  std::this_thread::sleep_for(300ms);  // the fetches are waiting (not a synchronization: a late one still counts)
  ASSERT_TRUE(cluster_->Terminate(node + 1, 10s).ok());
  for (auto& t : readers) t.join();
  for (const auto& s : answers) {
    EXPECT_NE(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_NE(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  }
}

// A replica that is behind (it was down or paused while the others went on) is asked for the end of the log as
// the leader acknowledged it. It must say "retry" (UNAVAILABLE + NotLeader/RetryInfo), never OUT_OF_RANGE "nothing
// was ever committed there", which tells a consumer its position is wrong. The leader still answers OUT_OF_RANGE
// past its own end.
TEST_F(OutcomeTest, AReplicaThatIsBehindNeverSaysAnOffsetWasNeverCommitted) {
  ASSERT_TRUE(client_->CreateTopic("behind", 1).ok());
  const size_t leader = LeaderIndex("behind");
  const size_t follower = (leader + 1) % 3;
  int out_of_range = 0, behind = 0, probes = 0;
  for (int round = 0; round < 2; ++round) {
    if (round == 0) {
      ASSERT_TRUE(cluster_->Pause(follower + 1).ok());
    } else {
      ASSERT_TRUE(cluster_->Kill(follower + 1).ok());
    }
    for (int i = 0; i < 100; ++i) {
      v1::ProduceResponse resp;
      ASSERT_TRUE(client_->Produce(One("behind", absl::StrCat("r", round, "-", i)), &resp).ok());
    }
    const auto end = client_->HighWatermark(leader, "behind", 0);
    ASSERT_TRUE(end.has_value());
    if (round == 0) {
      ASSERT_TRUE(cluster_->Resume(follower + 1).ok());
    } else {
      ASSERT_TRUE(cluster_->Restart(follower + 1).ok());
    }
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      v1::FetchRequest f;
      f.set_topic("behind");
      f.set_offset(*end);
      v1::FetchResponse r;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 2s);
      // A fresh channel each time: a channel that met the restarting node refused backs off for seconds.
      auto stub = v1::Log::NewStub(
          grpc::CreateChannel(cluster_->node(follower + 1).client_address, grpc::InsecureChannelCredentials()));
      grpc::Status s = stub->Fetch(&ctx, f, &r);
      ++probes;
      if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
        ++out_of_range;
        ADD_FAILURE() << "a replica that is behind: " << s.error_message();
      }
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE && Detail<v1::NotLeader>(s).has_value()) ++behind;
      if (s.ok()) break;  // caught up: the end is readable (nothing past it yet)
      std::this_thread::sleep_for(1ms);
    }
  }
  EXPECT_EQ(out_of_range, 0) << "of " << probes << " probes";
  std::printf("%d probes, %d answered 'behind, retry'\n", probes, behind);
  v1::FetchRequest past;
  past.set_topic("behind");
  past.set_offset(1'000'000);
  v1::FetchResponse r;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto s = client_->log(LeaderIndex("behind")).Fetch(&ctx, past, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << "the leader knows: " << s.error_message();
}

TEST_F(OutcomeTest, ASequenceReusedForOtherRecordsIsRefusedNotAnsweredAsADuplicate) {
  ASSERT_TRUE(client_->CreateTopic("reuse", 1).ok());
  const size_t leader = LeaderIndex("reuse");
  auto first = One("reuse", "first");
  first.set_producer_id(4242);
  v1::ProduceResponse resp;
  ASSERT_TRUE(Produce(leader, first, &resp).ok());
  auto other = One("reuse", "other records, same sequence");
  other.set_producer_id(4242);
  grpc::Status s = Produce(leader, other, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(Detail<v1::SequenceReused>(s).has_value()) << s.error_message();
  EXPECT_EQ(OutcomeOf(s), v1::WriteOutcome::NOT_WRITTEN);
  EXPECT_EQ(client_->HighWatermark(leader, "reuse", 0), 1u) << "nothing was written in its place";
}

TEST_F(OutcomeTest, ANamedProducersNewInstanceFencesTheOldOneAcrossAControllerRestart) {
  ASSERT_TRUE(client_->CreateTopic("named", 1).ok());
  auto init = [&](v1::InitProducerResponse* out) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      for (size_t n = 0; n < client_->size(); ++n) {
        v1::InitProducerRequest req;
        req.set_producer_name("exporter");
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 2s);
        if (client_->log(n).InitProducer(&ctx, req, out).ok()) return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  v1::InitProducerResponse old_instance, new_instance;
  ASSERT_TRUE(init(&old_instance));
  auto req = One("named", "old-0");
  req.set_producer_id(old_instance.producer_id());
  req.set_producer_epoch(old_instance.producer_epoch());
  v1::ProduceResponse resp;
  ASSERT_TRUE(client_->Produce(req, &resp).ok());

  // The controller restarts; the name's identity is in the metadata group and survives it.
  uint64_t controller = 0;
  for (size_t n = 0; n < client_->size() && controller == 0; ++n) {
    v1::DescribeClusterResponse d;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    if (client_->admin(n).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &d).ok())
      controller = d.controller_id();
  }
  ASSERT_NE(controller, 0u);
  ASSERT_TRUE(cluster_->Terminate(controller, 10s).ok());
  ASSERT_TRUE(cluster_->Restart(controller).ok());
  ASSERT_TRUE(cluster_->WaitReady(controller, 20s).ok());

  ASSERT_TRUE(init(&new_instance));
  EXPECT_EQ(new_instance.producer_id(), old_instance.producer_id());
  EXPECT_EQ(new_instance.producer_epoch(), old_instance.producer_epoch() + 1);
  auto fresh = One("named", "new-0");
  fresh.set_producer_id(new_instance.producer_id());
  fresh.set_producer_epoch(new_instance.producer_epoch());
  ASSERT_TRUE(client_->Produce(fresh, &resp).ok());
  auto zombie = One("named", "old-1");
  zombie.set_producer_id(old_instance.producer_id());
  zombie.set_producer_epoch(old_instance.producer_epoch());
  zombie.set_sequence(1);
  grpc::Status s = Produce(LeaderIndex("named"), zombie, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(Detail<v1::ProducerFenced>(s).has_value()) << s.error_message();
  EXPECT_EQ(OutcomeOf(s), v1::WriteOutcome::NOT_WRITTEN);
}

}  // namespace
}  // namespace brook::testing
