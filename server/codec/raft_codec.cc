#include "server/codec/raft_codec.h"

#include <utility>

namespace brook::server {

void ConfToProto(const raft::ConfState& c, internal::ConfState* out) {
  for (auto v : c.voters) out->add_voters(v);
  for (auto v : c.learners) out->add_learners(v);
  for (auto v : c.voters_outgoing) out->add_voters_outgoing(v);
}

raft::ConfState ConfFromProto(const internal::ConfState& c) {
  raft::ConfState out;
  out.voters.assign(c.voters().begin(), c.voters().end());
  out.learners.assign(c.learners().begin(), c.learners().end());
  out.voters_outgoing.assign(c.voters_outgoing().begin(), c.voters_outgoing().end());
  return out;
}

void ToProto(const raft::Message& m, internal::RaftMessage* out) { ToProto(raft::Message(m), out); }

void ToProto(raft::Message&& m, internal::RaftMessage* out) {
  out->set_type(static_cast<uint32_t>(m.type));
  out->set_from(m.from);
  out->set_to(m.to);
  out->set_term(m.term);
  out->set_log_term(m.log_term);
  out->set_index(m.index);
  out->mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (auto& e : m.entries) {
    auto* pe = out->add_entries();
    pe->set_index(e.index);
    pe->set_term(e.term);
    pe->set_type(static_cast<uint32_t>(e.type));
    pe->set_base_offset(e.base_offset);
    pe->set_record_count(e.record_count);
    pe->set_data(std::move(e.data).Release());
  }
  out->set_commit(m.commit);
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint);
  out->set_reject_hint_term(m.reject_hint_term);
  if (m.type == raft::MessageType::kSnapshot) {
    auto* s = out->mutable_snapshot();
    s->set_index(m.snapshot.index);
    s->set_term(m.snapshot.term);
    s->set_next_offset(m.snapshot.next_offset);
    ConfToProto(m.snapshot.conf, s->mutable_conf());
    out->set_snapshot_data(std::move(m.snapshot_data));
  }
  out->set_context(m.context);
}

raft::Message FromProto(const internal::RaftMessage& p) { return FromProto(internal::RaftMessage(p)); }

raft::Message FromProto(internal::RaftMessage&& p) {
  raft::Message m;
  m.type = static_cast<raft::MessageType>(p.type());
  m.from = p.from();
  m.to = p.to();
  m.term = p.term();
  m.log_term = p.log_term();
  m.index = p.index();
  m.entries.reserve(p.entries_size());
  for (auto& pe : *p.mutable_entries()) {
    raft::Entry e;
    e.index = pe.index();
    e.term = pe.term();
    e.type = static_cast<raft::EntryType>(pe.type());
    e.base_offset = pe.base_offset();
    e.record_count = pe.record_count();
    e.data = std::move(*pe.mutable_data());
    m.entries.push_back(std::move(e));
  }
  m.commit = p.commit();
  m.reject = p.reject();
  m.reject_hint = p.reject_hint();
  m.reject_hint_term = p.reject_hint_term();
  if (p.has_snapshot()) {
    m.snapshot.index = p.snapshot().index();
    m.snapshot.term = p.snapshot().term();
    m.snapshot.next_offset = p.snapshot().next_offset();
    m.snapshot.conf = ConfFromProto(p.snapshot().conf());
    m.snapshot_data = std::move(*p.mutable_snapshot_data());
  }
  m.context = p.context();
  return m;
}

}  // namespace brook::server
