// Conversion between the Raft core's plain messages (raft/message.h) and the node protocol's protobuf
// (proto/brook/internal/transport.proto). The const overloads copy entry data; the rvalue ones move it.
#pragma once

#include "brook/internal/transport.pb.h"
#include "raft/message.h"

namespace brook::server {

void ToProto(const raft::Message& m, internal::RaftMessage* out);
// The same, moving the entries' data (and snapshot data) into `out` instead of copying them.
void ToProto(raft::Message&& m, internal::RaftMessage* out);
raft::Message FromProto(const internal::RaftMessage& m);
// The same, moving the entries' data (and snapshot data) out of `m` instead of copying them.
raft::Message FromProto(internal::RaftMessage&& m);
raft::ConfState ConfFromProto(const internal::ConfState& c);
void ConfToProto(const raft::ConfState& c, internal::ConfState* out);

}  // namespace brook::server
