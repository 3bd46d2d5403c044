#include "server/host/offsets.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

// Answers `done` once every part of a multi-partition commit has finished: OK if all were written; else the first
// error, NOT_WRITTEN only if no part was written or may have been (the parts are separate entries of separate
// partitions, so a commit can be partly written: that is UNKNOWN to the caller).
struct Join {
  int remaining;
  grpc::Status first_error;
  std::function<void(grpc::Status)> done;
  bool maybe_written = false;

  void Finish(const grpc::Status& s) {
    if (s.ok() || OutcomeOf(s) != WriteOutcome::kNotWritten) maybe_written = true;
    if (!s.ok() && first_error.ok()) first_error = s;
    if (--remaining > 0) return;
    if (first_error.ok()) return done(first_error);
    done(WithOutcome(first_error, maybe_written ? WriteOutcome::kUnknown : WriteOutcome::kNotWritten));
  }
};

}  // namespace

grpc::Status OffsetsHandler::Resolve(const std::string& topic, const std::vector<uint32_t>& partitions,
                                     const Check& check, std::vector<PartitionGroup*>* out) {
  const auto& topics = ctx_->groups->metadata().machine().state().topics();
  auto t = topics.find(topic);
  if (t == topics.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", topic, "' does not exist"));
  }
  for (size_t i = 0; i < partitions.size(); ++i) {
    const uint32_t p = partitions[i];
    if (p >= static_cast<uint32_t>(t->second.partitions_size())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("topic '", topic, "' has ", t->second.partitions_size(),
                                       " partitions; partition ", p, " does not exist"));
    }
    PartitionGroup* g = ctx_->groups->FindPartition(topic, p);
    if (g == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("partition ", topic, "/", p, " is not hosted here"));
    }
    if (auto s = ctx_->CheckLeaderReady(*g); !s.ok()) return s;
    if (check) {
      if (auto s = check(static_cast<int>(i), *g); !s.ok()) return s;
    }
    out->push_back(g);
  }
  return grpc::Status::OK;
}

void OffsetsHandler::Commit(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done) {
  std::vector<uint32_t> partitions;
  for (const auto& po : req.offsets()) partitions.push_back(po.partition());
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s);
  auto within_watermark = [&req](int i, PartitionGroup& g) {
    if (!g.machine().groups().contains(req.group()) &&
        g.machine().groups().size() >= Limits::kMaxGroupsPerPartition) {
      return RetryLater(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("partition ", req.offsets(i).partition(), " holds offsets of ", g.machine().groups().size(),
                       " consumer groups, its limit (max_groups_per_partition)"),
          60'000);
    }
    const uint64_t hwm = g.machine().end_offset();
    if (req.offsets(i).offset() <= hwm) return grpc::Status::OK;
    return InvalidField(absl::StrCat("offsets[", i, "].offset"),
                        absl::StrCat("is ", req.offsets(i).offset(), " but partition ", req.offsets(i).partition(),
                                     " has high watermark ", hwm));
  };
  std::vector<PartitionGroup*> groups;
  if (auto s = Resolve(req.topic(), partitions, within_watermark, &groups); !s.ok()) return done(s);
  auto join = std::make_shared<Join>(Join{req.offsets_size(), grpc::Status::OK, std::move(done)});
  for (int i = 0; i < req.offsets_size(); ++i) {
    const auto& po = req.offsets(i);
    internal::OffsetCommit commit;
    commit.set_group(req.group());
    commit.set_partition(po.partition());
    commit.set_offset(po.offset());
    commit.set_metadata(po.metadata());
    std::string data = EncodeOffsetCommit(commit);
    PartitionGroup& g = *groups[i];
    const int64_t t = std::max(ctx_->NowMs(), g.last_append_time());
    StampAppendTime(data, t);
    auto proposed = g.raft().Propose(std::move(data), 0);
    if (!proposed.ok()) {
      join->Finish(WithOutcome(
          absl::IsFailedPrecondition(proposed.status())
              ? ctx_->NotLeaderFor(g)
              : RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(proposed.status().message()), 50),
          WriteOutcome::kNotWritten));
      continue;
    }
    g.set_last_append_time(t);
    g.proposals().Add(
        proposed->index, proposed->term,
        [join](const grpc::Status& s, const Proposals<PartitionApplied>::Committed*) { join->Finish(s); });
  }
}

void OffsetsHandler::Fetch(const v1::FetchOffsetsRequest& req,
                           std::function<void(grpc::Status, v1::FetchOffsetsResponse)> done) {
  std::vector<PartitionGroup*> groups;
  if (auto s = Resolve(req.topic(), {req.partitions().begin(), req.partitions().end()}, nullptr, &groups);
      !s.ok()) {
    return done(s, {});
  }
  v1::FetchOffsetsResponse resp;
  for (PartitionGroup* g : groups) {
    auto* out = resp.add_offsets();
    out->set_partition(g->partition());
    const uint64_t hwm = g->machine().end_offset();
    out->set_high_watermark(hwm);
    auto it = g->machine().groups().find(req.group());
    if (it == g->machine().groups().end()) continue;
    out->set_committed(true);
    out->set_offset(it->second.offset());
    out->set_metadata(it->second.metadata());
    out->set_commit_time_ms(it->second.commit_time_ms());
    out->set_lag(hwm > it->second.offset() ? hwm - it->second.offset() : 0);
  }
  done(grpc::Status::OK, std::move(resp));
}

}  // namespace brook::server
