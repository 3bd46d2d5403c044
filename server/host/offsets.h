// Consumer-group offsets (docs/architecture.md A3): a commit is an entry in each named partition's own Raft
// group, proposed on its leader; a fetch reads the leader's applied state.
//
// Loop thread only (Host posts to it).
#pragma once

#include <functional>
#include <vector>

#include "brook/v1/groups.pb.h"
#include "server/host/context.h"

namespace brook::server {

class OffsetsHandler {
 public:
  explicit OffsetsHandler(HostContext* ctx) : ctx_(ctx) {}

  // Proposes one offset-commit entry per partition of the request; `done` runs once, when all have applied (OK)
  // or with the first error. Every partition must exist and be led here, or nothing is proposed.
  void Commit(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done);
  // The group's committed offset, lag and high watermark of each partition named.
  void Fetch(const v1::FetchOffsetsRequest& req, std::function<void(grpc::Status, v1::FetchOffsetsResponse)> done);

 private:
  // The groups of the partitions a request names, all led here and each passing `check` (given its position in
  // the request), checked in request order; or the first status that says why not.
  using Check = std::function<grpc::Status(int i, PartitionGroup& g)>;
  grpc::Status Resolve(const std::string& topic, const std::vector<uint32_t>& partitions, const Check& check,
                       std::vector<PartitionGroup*>* out);

  HostContext* const ctx_;
};

}  // namespace brook::server
