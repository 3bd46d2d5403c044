#include "client/lib/group_consumer.h"

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lib/errors.h"

namespace brook::client {
namespace {

// Rounds of one Poll (each ends with records, a heartbeat or the timeout); bounds the loop.
constexpr int kMaxPollRounds = 10'000;

std::set<GroupPartition> Flatten(const google::protobuf::RepeatedPtrField<v1::TopicPartitions>& in) {
  std::set<GroupPartition> out;
  for (const auto& tp : in) {
    for (uint32_t p : tp.partitions()) out.insert({tp.topic(), p});
  }
  return out;
}

bool OutOfGroup(const ErrorInfo& e) {
  return e.group_error && (e.group_error->reason() == v1::GroupError::UNKNOWN_MEMBER ||
                           e.group_error->reason() == v1::GroupError::FENCED_MEMBER_EPOCH);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GroupConsumer>> GroupConsumer::Create(std::shared_ptr<Connection> connection,
                                                                     GroupConsumerOptions options) {
  if (options.group.empty()) return absl::InvalidArgumentError("group is empty; name the group to join");
  if (options.topics.empty()) return absl::InvalidArgumentError("topics is empty; subscribe to at least one");
  if (options.instance_id.size() > 255) return absl::InvalidArgumentError("instance_id is longer than 255 bytes");
  if (options.session_timeout < std::chrono::seconds(1) || options.session_timeout > std::chrono::minutes(5)) {
    return absl::InvalidArgumentError("session_timeout must be 1 s to 300 s");
  }
  if (options.rebalance_timeout < std::chrono::seconds(1) ||
      options.rebalance_timeout > std::chrono::minutes(10)) {
    return absl::InvalidArgumentError("rebalance_timeout must be 1 s to 600 s");
  }
  std::sort(options.topics.begin(), options.topics.end());
  options.topics.erase(std::unique(options.topics.begin(), options.topics.end()), options.topics.end());
  return std::make_unique<GroupConsumer>(std::move(connection), std::move(options));
}

GroupConsumer::GroupConsumer(std::shared_ptr<Connection> connection, GroupConsumerOptions options)
    : connection_(std::move(connection)), options_(std::move(options)) {
  next_commit_ = Clock::now() + options_.auto_commit_interval;
}

std::vector<GroupPartition> GroupConsumer::Assignment() const {
  std::vector<GroupPartition> out;
  for (const auto& [tp, position] : held_) out.push_back(tp);
  return out;
}

std::optional<uint64_t> GroupConsumer::Position(const GroupPartition& tp) const {
  auto h = held_.find(tp);
  if (h == held_.end()) return std::nullopt;
  return h->second;
}

void GroupConsumer::SyncPositions() {
  for (auto& [tp, position] : held_) {
    auto r = readers_.find(tp.topic);
    if (r == readers_.end()) continue;
    if (auto p = r->second->Position(tp.partition)) position = *p;
  }
}

absl::Status GroupConsumer::RebuildReaders() {
  std::map<std::string, std::map<uint32_t, uint64_t>> by_topic;
  for (const auto& [tp, position] : held_) by_topic[tp.topic][tp.partition] = position;
  std::erase_if(readers_, [&](const auto& kv) { return !by_topic.contains(kv.first); });
  absl::Status first_error;
  for (auto& [topic, positions] : by_topic) {
    auto& reader = readers_[topic];
    if (!reader) reader = std::make_unique<Consumer>(connection_, options_.fetch);
    if (auto s = reader->AssignPositions(topic, std::move(positions)); !s.ok()) {
      readers_.erase(topic);  // never read with a stale assignment
      first_error.Update(s);
    }
  }
  readers_dirty_ = !first_error.ok();
  return first_error;
}

void GroupConsumer::Lose(const std::string& why) {
  (void)why;
  std::vector<GroupPartition> lost = Assignment();
  held_.clear();
  readers_.clear();
  member_id_.clear();
  epoch_ = 0;
  ++rejoins_;
  heartbeat_due_ = Clock::now();
  if (!lost.empty() && options_.on_lost) options_.on_lost(lost);
}

absl::Status GroupConsumer::Heartbeat() {
  v1::HeartbeatRequest request;
  request.set_group(options_.group);
  request.set_member_id(member_id_);
  request.set_member_epoch(epoch_);
  request.set_instance_id(options_.instance_id);
  request.set_assignor(options_.assignor);
  request.set_session_timeout_ms(static_cast<uint32_t>(options_.session_timeout.count()));
  request.set_rebalance_timeout_ms(static_cast<uint32_t>(options_.rebalance_timeout.count()));
  if (epoch_ == 0) {
    for (const auto& t : options_.topics) request.add_topics(t);
  }
  for (const auto& [tp, position] : held_) {
    if (request.owned().empty() || request.owned().rbegin()->topic() != tp.topic) {
      request.add_owned()->set_topic(tp.topic);
    }
    request.mutable_owned()->rbegin()->add_partitions(tp.partition);
  }
  v1::HeartbeatResponse response;
  const Clock::time_point sent = Clock::now();  // the coordinator heard us after this: the lease starts here
  // A heartbeat that takes longer than a third of the session is no use; a join may wait for the internal topic.
  const auto budget = epoch_ == 0 ? connection_->options().call_timeout : options_.session_timeout / 3;
  absl::Status s = connection_->Call(
      Route::Coordinator(options_.group), Clock::now() + budget, /*idempotent=*/epoch_ != 0,
      [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->groups->Heartbeat(ctx, request, &response); });
  if (!s.ok()) {
    const ErrorInfo e = DecodeError(s);
    if (OutOfGroup(e)) {
      Lose(std::string(s.message()));
      return absl::OkStatus();  // join again at once
    }
    if (e.group_error) return s;  // GROUP_FULL, TOO_MANY_GROUPS...: the caller must know
    heartbeat_due_ =
        Clock::now() + std::min<std::chrono::milliseconds>(heartbeat_interval_, std::chrono::milliseconds(500));
    return s;
  }
  last_heard_ = sent;
  member_id_ = response.member_id();
  epoch_ = response.member_epoch();
  heartbeat_interval_ = std::chrono::milliseconds(std::max<uint32_t>(100, response.heartbeat_interval_ms()));
  heartbeat_due_ = last_heard_ + heartbeat_interval_;
  return Apply(response);
}

absl::Status GroupConsumer::Apply(const v1::HeartbeatResponse& response) {
  const std::set<GroupPartition> assigned = Flatten(response.assignment());
  SyncPositions();
  // Give up what is not ours to read any more (revoked, or gone), committing first.
  std::vector<GroupPartition> released;
  for (const auto& [tp, position] : held_) {
    if (!assigned.contains(tp)) released.push_back(tp);
  }
  absl::Status revoke_commit;
  if (!released.empty()) {
    if (options_.auto_commit) revoke_commit = CommitHeld(released);
    if (epoch_ == 0) return revoke_commit;  // removed meanwhile: Lose dropped everything; join again
    if (options_.on_revoked) options_.on_revoked(released);
    if (epoch_ == 0) return absl::OkStatus();  // a commit in the callback found the member removed
    for (const auto& tp : released) held_.erase(tp);
    heartbeat_due_ = Clock::now();  // tell the coordinator at once, so the new owner gets them
  }
  std::vector<GroupPartition> added;
  for (const auto& tp : assigned) {
    if (!held_.contains(tp)) added.push_back(tp);
  }
  if (!added.empty()) {
    auto starts = StartOffsets(added);
    if (!starts.ok()) {
      heartbeat_due_ = Clock::now();  // try again soon; the coordinator keeps them ours meanwhile
      if (auto s = RebuildReaders(); !s.ok()) return s;
      return starts.status();
    }
    for (const auto& [tp, offset] : *starts) {
      held_[tp] = offset;
      committed_.erase(tp);
    }
    if (options_.on_assigned) options_.on_assigned(added);
  }
  if (!released.empty() || !added.empty()) {
    if (auto s = RebuildReaders(); !s.ok()) return s;
  }
  // A failed commit of revoked partitions: they were given up anyway (their new owner re-reads from the last
  // commit); say so once the rest is done.
  return revoke_commit;
}

absl::StatusOr<std::map<GroupPartition, uint64_t>> GroupConsumer::StartOffsets(
    const std::vector<GroupPartition>& added) {
  std::map<GroupPartition, uint64_t> out;
  v1::DescribeGroupRequest request;
  request.set_group(options_.group);
  request.set_omit_members(true);
  for (const auto& tp : added) {
    if (request.offsets_of().empty() || request.offsets_of().rbegin()->topic() != tp.topic) {
      request.add_offsets_of()->set_topic(tp.topic);
    }
    request.mutable_offsets_of()->rbegin()->add_partitions(tp.partition);
  }
  v1::DescribeGroupResponse described;
  absl::Status s = connection_->Call(Route::Coordinator(options_.group), connection_->DefaultDeadline(),
                                     /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->groups->DescribeGroup(ctx, request, &described);
                                     });
  if (!s.ok()) return s;
  for (const auto& o : described.offsets()) out[{o.topic(), o.partition()}] = o.offset();
  for (const auto& tp : added) {
    if (out.contains(tp)) continue;
    // The partition's own store of the group's offsets (commits made without the group protocol).
    v1::FetchOffsetsRequest fetch;
    fetch.set_group(options_.group);
    fetch.set_topic(tp.topic);
    fetch.add_partitions(tp.partition);
    v1::FetchOffsetsResponse fetched;
    s = connection_->Call(Route::Leader(tp.topic, tp.partition), connection_->DefaultDeadline(),
                          /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                            return node->groups->FetchOffsets(ctx, fetch, &fetched);
                          });
    if (!s.ok()) return s;
    if (!fetched.offsets().empty() && fetched.offsets(0).committed()) {
      out[tp] = fetched.offsets(0).offset();
      continue;
    }
    v1::ListOffsetsRequest list;
    list.set_topic(tp.topic);
    list.set_partition(tp.partition);
    list.set_spec(options_.auto_offset_reset == OffsetSpec::kEarliest ? v1::ListOffsetsRequest::EARLIEST
                                                                      : v1::ListOffsetsRequest::LATEST);
    v1::ListOffsetsResponse listed;
    s = connection_->Call(
        Route::Leader(tp.topic, tp.partition), connection_->DefaultDeadline(), /*idempotent=*/true,
        [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->log->ListOffsets(ctx, list, &listed); });
    if (!s.ok()) return s;
    out[tp] = listed.offset();
  }
  return out;
}

absl::Status GroupConsumer::CommitOffsets(const std::map<GroupPartition, uint64_t>& offsets) {
  if (epoch_ == 0) return absl::FailedPreconditionError("not a member of the group (yet); Poll first");
  std::map<std::string, v1::CommitOffsetsRequest> by_topic;
  for (const auto& [tp, offset] : offsets) {
    v1::CommitOffsetsRequest& r = by_topic[tp.topic];
    r.set_group(options_.group);
    r.set_topic(tp.topic);
    r.set_member_id(member_id_);
    r.set_member_epoch(epoch_);
    auto* o = r.add_offsets();
    o->set_partition(tp.partition);
    o->set_offset(offset);
  }
  for (const auto& [topic, request] : by_topic) {
    v1::CommitOffsetsResponse response;
    absl::Status s = connection_->Call(Route::Coordinator(options_.group), connection_->DefaultDeadline(),
                                       /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                         return node->groups->CommitOffsets(ctx, request, &response);
                                       });
    if (!s.ok()) {
      if (OutOfGroup(DecodeError(s))) Lose(std::string(s.message()));
      return s;
    }
    for (const auto& o : request.offsets()) committed_[{topic, o.partition()}] = o.offset();
  }
  return absl::OkStatus();
}

absl::Status GroupConsumer::CommitHeld(const std::vector<GroupPartition>& which) {
  std::map<GroupPartition, uint64_t> offsets;
  for (const auto& tp : which) {
    auto h = held_.find(tp);
    if (h == held_.end()) continue;
    auto c = committed_.find(tp);
    if (c != committed_.end() && c->second == h->second) continue;  // nothing new
    offsets[tp] = h->second;
  }
  if (offsets.empty()) return absl::OkStatus();
  return CommitOffsets(offsets);
}

absl::Status GroupConsumer::Commit() {
  SyncPositions();
  return CommitHeld(Assignment());
}

absl::StatusOr<PollResult> GroupConsumer::Poll(std::chrono::milliseconds timeout) {
  if (closed_) return absl::FailedPreconditionError("Poll after Close");
  if (!pending_error_.ok()) return std::exchange(pending_error_, absl::OkStatus());
  const Clock::time_point deadline = Clock::now() + timeout;
  auto final = [](const absl::Status& s) {
    return !s.ok() && (RetryRule(s.code()) == Retry::kNever || DecodeError(s).group_error.has_value()) &&
           !OutOfGroup(DecodeError(s));
  };
  for (int round = 0; round < kMaxPollRounds; ++round) {
    Clock::time_point now = Clock::now();
    // Not heard for a whole session: the coordinator may have moved our partitions. Stop reading them first.
    if (LeaseOver(now)) Lose("no heartbeat answered for a session");
    if (options_.auto_commit && epoch_ != 0 && now >= next_commit_) {
      next_commit_ = now + options_.auto_commit_interval;
      if (auto s = Commit(); final(s)) return s;
    }
    if (now >= heartbeat_due_) {
      if (absl::Status s = Heartbeat(); final(s)) return s;
      now = Clock::now();
      if (LeaseOver(now)) Lose("no heartbeat answered for a session");
    }
    if (readers_dirty_) (void)RebuildReaders();
    if (now >= deadline) break;
    // Never wait past the next heartbeat, nor past the lease.
    Clock::time_point until = std::min(deadline, heartbeat_due_);
    if (epoch_ != 0) until = std::min(until, last_heard_ + options_.session_timeout);
    if (readers_.empty() || until <= now) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(std::max<Clock::duration>(until - now, {}), std::chrono::milliseconds(50)));
      continue;
    }
    const auto slice =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - now) / static_cast<int64_t>(readers_.size());
    PollResult result;
    absl::Status error;
    for (auto& [topic, reader] : readers_) {
      auto polled = reader->Poll(std::max(slice, std::chrono::milliseconds(1)));
      if (!polled.ok()) {
        error.Update(polled.status());
        continue;
      }
      for (auto& r : polled->records) result.records.push_back(std::move(r));
      for (auto& g : polled->gaps) result.gaps.push_back(std::move(g));
      result.compacted_skipped += polled->compacted_skipped;
    }
    if (LeaseOver(Clock::now())) {
      // The answers may have come after the coordinator could have moved the partitions: hand nothing out (the
      // new owner reads them from the last commit).
      Lose("the session ran out while reading");
      continue;
    }
    SyncPositions();
    if (!result.empty()) {
      pending_error_ = error;  // records first; the error with the next Poll
      return result;
    }
    if (!error.ok()) return error;
  }
  return PollResult{};
}

absl::Status GroupConsumer::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  if (epoch_ == 0) return absl::OkStatus();
  absl::Status committed = options_.auto_commit ? Commit() : absl::OkStatus();
  std::vector<GroupPartition> released = Assignment();
  if (epoch_ != 0 && !released.empty() && options_.on_revoked) options_.on_revoked(released);  // may commit
  if (epoch_ == 0) return committed;  // removed meanwhile (Lose told on_lost)
  v1::HeartbeatRequest request;
  request.set_group(options_.group);
  request.set_member_id(member_id_);
  request.set_member_epoch(options_.instance_id.empty() ? -1 : -2);
  request.set_instance_id(options_.instance_id);
  v1::HeartbeatResponse response;
  absl::Status left = connection_->Call(
      Route::Coordinator(options_.group), connection_->DefaultDeadline(), /*idempotent=*/true,
      [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->groups->Heartbeat(ctx, request, &response); });
  // A retried leave whose first attempt worked is answered UNKNOWN_MEMBER: it left all the same.
  if (!left.ok() && OutOfGroup(DecodeError(left))) left = absl::OkStatus();
  held_.clear();
  readers_.clear();
  epoch_ = 0;
  return committed.ok() ? left : committed;
}

}  // namespace brook::client
