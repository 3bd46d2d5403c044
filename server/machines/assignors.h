// Partition assignors of consumer groups (docs/decisions.md A19): given the members' subscriptions and the
// partition count of each topic, which member should own which partition. Pure and deterministic: every replica
// of a coordinator computes the same answer from the same input.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace brook::server {

struct TopicPartition {
  std::string topic;
  uint32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};
using PartitionSet = std::set<TopicPartition>;

struct AssignorMember {
  std::string key;  // the order members are taken in: the instance id of a static member, else the member id
  std::string member_id;
  std::vector<std::string> topics;  // sorted
  PartitionSet previous;            // its previous target (what a sticky assignor keeps)
};

// member id -> partitions. Every partition of a subscribed topic goes to exactly one member subscribed to it;
// partitions of topics nobody reads go to nobody.
using Assignment = std::map<std::string, PartitionSet>;

// Per topic, its members in key order take contiguous ranges; the first (count % members) take one more.
Assignment AssignRange(const std::vector<AssignorMember>& members, const std::map<std::string, uint32_t>& counts);

// Keeps each member's previous partitions that are still valid, gives the rest to the least loaded eligible
// member, then moves partitions from the most to the least loaded until no move of an eligible partition would
// narrow the gap. With equal subscriptions the counts differ by at most one.
Assignment AssignUniform(const std::vector<AssignorMember>& members,
                         const std::map<std::string, uint32_t>& counts);

inline constexpr std::string_view kRangeAssignor = "range";
inline constexpr std::string_view kUniformAssignor = "uniform";

}  // namespace brook::server
