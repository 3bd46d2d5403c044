// A consumer that reads as a member of a consumer group (docs/api.md "Consumer groups"): the group's coordinator
// assigns it partitions of the topics it subscribes to, and moves them when members come and go.
//
// Poll drives everything, like Kafka's poll loop: it heartbeats when due (the answer says which partitions the
// member owns and which it must give up), gives up revoked partitions (committing their positions first when
// auto-commit is on, then calling on_revoked), starts reading new ones from the group's committed offset (or the
// partition's own store of the group's offsets, or auto_offset_reset), and long-polls the partitions it owns.
// Call Poll at least every session timeout; a member that does not is removed and its partitions move.
//
// Safety: a partition is read by one member at a time. The coordinator gives a partition to its new owner only
// after the old owner gave it up; a member that has not heard from the coordinator for a whole session timeout
// stops reading everything (on_lost) before the coordinator could have moved its partitions, and rejoins. Commits
// carry the member's epoch and are refused for a partition it no longer owns (FAILED_PRECONDITION + GroupError).
//
// Delivery: at least once. With auto-commit, a Poll commits the positions of what earlier Polls returned
// (processed by then), at most every auto_commit_interval, and before giving a partition up; without a crash,
// nothing is read twice.
//
// Not thread-safe: one thread drives a GroupConsumer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/v1/groups.pb.h"
#include "client/lib/connection.h"
#include "client/lib/consumer.h"

namespace brook::client {

struct GroupPartition {
  std::string topic;
  uint32_t partition = 0;
  auto operator<=>(const GroupPartition&) const = default;
};

struct GroupConsumerOptions {
  std::string group;
  std::vector<std::string> topics;
  // Static membership: an id this instance keeps across restarts (at most 255 bytes). Close() then keeps its
  // partitions for it until its session ends, so a quick restart moves nothing.
  std::string instance_id;
  // "uniform" (sticky, even; the default) or "range"; a group with members keeps its assignor.
  std::string assignor;
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds rebalance_timeout{60000};
  bool auto_commit = true;
  std::chrono::milliseconds auto_commit_interval{5000};
  // Where a partition without a committed offset starts.
  OffsetSpec auto_offset_reset = OffsetSpec::kEarliest;
  ConsumerOptions fetch;
  // Called from Poll (and Close) with the partitions just given to this member, given up by it (after their
  // commit), or lost (taken away without a commit: the member was removed from the group).
  // on_revoked runs before the partitions are given up (after the auto-commit): without auto-commit, commit their
  // processed offsets there (CommitOffsets), as the coordinator still accepts them.
  std::function<void(const std::vector<GroupPartition>&)> on_assigned;
  std::function<void(const std::vector<GroupPartition>&)> on_revoked;
  std::function<void(const std::vector<GroupPartition>&)> on_lost;
};

class GroupConsumer {
 public:
  // INVALID_ARGUMENT for options the coordinator would refuse; does not contact the cluster (the first Poll
  // joins).
  static absl::StatusOr<std::unique_ptr<GroupConsumer>> Create(std::shared_ptr<Connection> connection,
                                                               GroupConsumerOptions options);
  GroupConsumer(std::shared_ptr<Connection> connection, GroupConsumerOptions options);

  // Waits up to `timeout` for records of the partitions this member owns (see above for what else it does).
  // Transient failures are retried within the timeout; a refusal that retrying cannot fix is returned.
  absl::StatusOr<PollResult> Poll(std::chrono::milliseconds timeout);

  // Commits the position of every owned partition (what Poll returned so far counts as processed).
  absl::Status Commit();
  // Commits the given offsets (next offset to read) of owned partitions.
  absl::Status CommitOffsets(const std::map<GroupPartition, uint64_t>& offsets);

  // Commits (with auto-commit) and leaves the group; a static member keeps its partitions for its session.
  absl::Status Close();

  std::vector<GroupPartition> Assignment() const;
  // The next offset Poll reads in an owned partition; nullopt when not owned.
  std::optional<uint64_t> Position(const GroupPartition& tp) const;
  const std::string& member_id() const { return member_id_; }
  uint32_t member_epoch() const { return epoch_; }
  // Rejoins since creation (after the member was removed or fenced).
  uint64_t rejoins() const { return rejoins_; }

 private:
  // One heartbeat (a join when not a member); applies the answer.
  absl::Status Heartbeat();
  absl::Status Apply(const v1::HeartbeatResponse& response);
  // Where each of `added` starts reading.
  absl::StatusOr<std::map<GroupPartition, uint64_t>> StartOffsets(const std::vector<GroupPartition>& added);
  // Stops reading everything without a commit and joins afresh on the next heartbeat.
  void Lose(const std::string& why);
  // Pulls positions from the readers, and rebuilds the readers after the held set changed.
  void SyncPositions();
  // Rebuilds the readers after the held set changed; a topic whose reader cannot be set up is not read, and the
  // rebuild is tried again next round.
  absl::Status RebuildReaders();
  // Whether the member's lease (its session, counted from when its last answered heartbeat was sent) ran out.
  bool LeaseOver(Clock::time_point now) const {
    return epoch_ != 0 && now - last_heard_ > options_.session_timeout;
  }
  absl::Status CommitHeld(const std::vector<GroupPartition>& which);

  std::shared_ptr<Connection> connection_;
  GroupConsumerOptions options_;
  std::string member_id_;
  uint32_t epoch_ = 0;  // 0: not a member (join next)
  uint64_t rejoins_ = 0;
  std::map<GroupPartition, uint64_t> held_;       // owned and read: partition -> next offset to read
  std::map<GroupPartition, uint64_t> committed_;  // what this member last committed
  std::map<std::string, std::unique_ptr<Consumer>> readers_;
  std::chrono::milliseconds heartbeat_interval_{1000};
  Clock::time_point heartbeat_due_{};
  Clock::time_point last_heard_{};  // when the last heartbeat the coordinator answered was sent
  bool readers_dirty_ = false;
  absl::Status pending_error_;  // a reader's error kept while records of other readers were handed out
  Clock::time_point next_commit_{};
  bool closed_ = false;
};

}  // namespace brook::client
