// Administration of consumer groups (docs/api.md "Consumer groups"): list, describe with lag, delete, and reset
// offsets. Each call goes to the group's coordinator; lag and reset targets are worked out here from each
// partition's offsets (ListOffsets at its leader), as the coordinator does not hold the partitions' logs.
//
// Thread-safe like Connection. Every call blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/v1/groups.pb.h"
#include "client/lib/connection.h"

namespace brook::client {

// One partition of a described group: its committed offset and how far behind the log's end it is.
struct PartitionLag {
  std::string topic;
  uint32_t partition = 0;
  bool committed = false;  // false: the group never committed an offset here
  uint64_t offset = 0;
  uint64_t high_watermark = 0;
  uint64_t lag = 0;   // high_watermark - offset (0 when committed is false or the offset is past it)
  std::string owner;  // the member id reading it, "" when none
  bool known = true;  // false when the partition's offsets could not be read (then high_watermark and lag are 0)
};

struct GroupDescription {
  v1::DescribeGroupResponse group;
  // Every partition of every topic the group reads or has offsets in, by topic then partition.
  std::vector<PartitionLag> partitions;
  uint64_t total_lag = 0;
};

// Where reset-offsets moves each partition.
struct ResetSpec {
  enum class Kind { kEarliest, kLatest, kTimestamp, kShift, kOffset };
  Kind kind = Kind::kEarliest;
  int64_t timestamp_ms = 0;  // kTimestamp
  int64_t shift = 0;         // kShift: added to the committed offset (negative rewinds), within the log's bounds
  uint64_t offset = 0;       // kOffset
};

class GroupAdmin {
 public:
  explicit GroupAdmin(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}

  // Every group of the cluster (asks each coordinator partition), sorted by name.
  absl::StatusOr<std::vector<v1::GroupListing>> ListGroups();
  absl::StatusOr<GroupDescription> DescribeGroup(const std::string& group);
  // FAILED_PRECONDITION (GroupError GROUP_NOT_EMPTY) while the group has members.
  absl::Status DeleteGroup(const std::string& group);
  // Works out the new offset of each of `partitions` of `topic` (all of the topic's when empty) and, unless
  // `dry_run`, stores them. Refused while the group has members. Returns the offsets set.
  absl::StatusOr<std::vector<v1::PartitionOffset>> ResetOffsets(const std::string& group, const std::string& topic,
                                                                const ResetSpec& spec,
                                                                std::vector<uint32_t> partitions = {},
                                                                bool dry_run = false);

  // The raw coordinator calls.
  absl::StatusOr<v1::DescribeGroupResponse> Describe(const v1::DescribeGroupRequest& request);
  absl::StatusOr<v1::ListOffsetsResponse> ListOffsets(const std::string& topic, uint32_t partition,
                                                      v1::ListOffsetsRequest::Spec spec, int64_t timestamp_ms = 0);

 private:
  std::shared_ptr<Connection> connection_;
};

}  // namespace brook::client
