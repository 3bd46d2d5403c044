#include "client/lib/group_admin.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace brook::client {

absl::StatusOr<std::vector<v1::GroupListing>> GroupAdmin::ListGroups() {
  std::vector<v1::GroupListing> out;
  for (uint32_t p = 0; p < kGroupCoordinatorPartitions; ++p) {
    v1::ListGroupsRequest request;
    request.set_coordinator_partition(p);
    v1::ListGroupsResponse response;
    const Route route{Route::Target::kGroupCoordinator, kGroupsTopic, p};
    absl::Status s = connection_->Call(route, connection_->DefaultDeadline(), /*idempotent=*/true,
                                       [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                         return node->groups->ListGroups(ctx, request, &response);
                                       });
    if (!s.ok()) return s;
    for (auto& g : *response.mutable_groups()) out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.group() < b.group(); });
  return out;
}

absl::StatusOr<v1::DescribeGroupResponse> GroupAdmin::Describe(const v1::DescribeGroupRequest& request) {
  v1::DescribeGroupResponse response;
  absl::Status s = connection_->Call(Route::Coordinator(request.group()), connection_->DefaultDeadline(),
                                     /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->groups->DescribeGroup(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::ListOffsetsResponse> GroupAdmin::ListOffsets(const std::string& topic, uint32_t partition,
                                                                v1::ListOffsetsRequest::Spec spec,
                                                                int64_t timestamp_ms) {
  v1::ListOffsetsRequest request;
  request.set_topic(topic);
  request.set_partition(partition);
  request.set_spec(spec);
  request.set_timestamp_ms(timestamp_ms);
  v1::ListOffsetsResponse response;
  absl::Status s = connection_->Call(
      Route::Leader(topic, partition), connection_->DefaultDeadline(), /*idempotent=*/true,
      [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->log->ListOffsets(ctx, request, &response); });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<GroupDescription> GroupAdmin::DescribeGroup(const std::string& group) {
  v1::DescribeGroupRequest request;
  request.set_group(group);
  auto described = Describe(request);
  if (!described.ok()) return described.status();
  GroupDescription out;
  out.group = std::move(*described);
  // Every partition worth a row: those of the topics members read, and those with offsets.
  std::map<std::pair<std::string, uint32_t>, PartitionLag> rows;
  std::set<std::string> topics;
  for (const auto& m : out.group.members()) topics.insert(m.topics().begin(), m.topics().end());
  for (const auto& t : topics) {
    auto topic = connection_->Topic(t, connection_->DefaultDeadline(), /*refresh=*/true);
    if (!topic.ok()) continue;  // a member may read a topic that does not exist yet
    for (int p = 0; p < topic->partitions_size(); ++p) rows[{t, static_cast<uint32_t>(p)}];
  }
  for (const auto& o : out.group.offsets()) {
    PartitionLag& row = rows[{o.topic(), o.partition()}];
    row.committed = true;
    row.offset = o.offset();
  }
  for (const auto& m : out.group.members()) {
    for (const auto* set : {&m.assignment(), &m.revoking()}) {
      for (const auto& tp : *set) {
        for (uint32_t p : tp.partitions()) rows[{tp.topic(), p}].owner = m.member_id();
      }
    }
  }
  for (auto& [key, row] : rows) {
    row.topic = key.first;
    row.partition = key.second;
    auto hwm = ListOffsets(row.topic, row.partition, v1::ListOffsetsRequest::LATEST);
    if (!hwm.ok()) {
      row.known = false;
    } else {
      row.high_watermark = hwm->high_watermark();
      row.lag = row.committed && row.offset < row.high_watermark ? row.high_watermark - row.offset : 0;
      out.total_lag += row.lag;
    }
    out.partitions.push_back(std::move(row));
  }
  return out;
}

absl::Status GroupAdmin::DeleteGroup(const std::string& group) {
  v1::DeleteGroupRequest request;
  request.set_group(group);
  v1::DeleteGroupResponse response;
  return connection_->Call(Route::Coordinator(group), connection_->DefaultDeadline(), /*idempotent=*/true,
                           [&](grpc::ClientContext* ctx, NodeStubs* node) {
                             return node->groups->DeleteGroup(ctx, request, &response);
                           });
}

absl::StatusOr<std::vector<v1::PartitionOffset>> GroupAdmin::ResetOffsets(const std::string& group,
                                                                          const std::string& topic,
                                                                          const ResetSpec& spec,
                                                                          std::vector<uint32_t> partitions,
                                                                          bool dry_run) {
  auto t = connection_->Topic(topic, connection_->DefaultDeadline(), /*refresh=*/true);
  if (!t.ok()) return t.status();
  if (partitions.empty()) {
    for (int p = 0; p < t->partitions_size(); ++p) partitions.push_back(static_cast<uint32_t>(p));
  }
  std::map<uint32_t, uint64_t> committed;
  if (spec.kind == ResetSpec::Kind::kShift) {
    v1::DescribeGroupRequest request;
    request.set_group(group);
    request.set_omit_members(true);
    auto d = Describe(request);
    if (!d.ok() && d.status().code() != absl::StatusCode::kNotFound) return d.status();
    if (d.ok()) {
      for (const auto& o : d->offsets()) {
        if (o.topic() == topic) committed[o.partition()] = o.offset();
      }
    }
  }
  v1::ResetOffsetsRequest request;
  request.set_group(group);
  request.set_topic(topic);
  for (uint32_t p : partitions) {
    if (p >= static_cast<uint32_t>(t->partitions_size())) {
      return absl::NotFoundError(
          absl::StrCat("topic '", topic, "' has ", t->partitions_size(), " partitions; ", p, " does not exist"));
    }
    const auto spec_of = spec.kind == ResetSpec::Kind::kTimestamp ? v1::ListOffsetsRequest::TIMESTAMP
                                                                  : v1::ListOffsetsRequest::EARLIEST;
    auto bounds = ListOffsets(topic, p, spec_of, spec.timestamp_ms);
    if (!bounds.ok()) return bounds.status();
    const uint64_t start = bounds->log_start_offset();
    const uint64_t end = bounds->high_watermark();
    uint64_t to = 0;
    switch (spec.kind) {
      case ResetSpec::Kind::kEarliest:
        to = start;
        break;
      case ResetSpec::Kind::kLatest:
        to = end;
        break;
      case ResetSpec::Kind::kTimestamp:
        to = bounds->offset();
        break;
      case ResetSpec::Kind::kShift: {
        auto c = committed.find(p);
        if (c == committed.end()) {
          return absl::FailedPreconditionError(absl::StrCat("group '", group, "' has no committed offset in ",
                                                            topic, "/", p,
                                                            " to shift; reset it another way first"));
        }
        // Saturating: a shift past either end lands on it.
        const uint64_t from = std::clamp(c->second, start, end);
        if (spec.shift < 0) {
          const uint64_t back = spec.shift == INT64_MIN ? uint64_t{1} << 63 : static_cast<uint64_t>(-spec.shift);
          to = from - start > back ? from - back : start;
        } else {
          const uint64_t ahead = static_cast<uint64_t>(spec.shift);
          to = end - from > ahead ? from + ahead : end;
        }
        break;
      }
      case ResetSpec::Kind::kOffset:
        to = std::clamp(spec.offset, start, end);
        break;
    }
    auto* o = request.add_offsets();
    o->set_partition(p);
    o->set_offset(to);
  }
  std::vector<v1::PartitionOffset> out(request.offsets().begin(), request.offsets().end());
  if (dry_run) return out;
  v1::ResetOffsetsResponse response;
  absl::Status s = connection_->Call(Route::Coordinator(group), connection_->DefaultDeadline(),
                                     /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->groups->ResetOffsets(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  return out;
}

}  // namespace brook::client
