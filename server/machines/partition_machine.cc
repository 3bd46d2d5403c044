#include "server/machines/partition_machine.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

constexpr std::string_view kProducerPrefix = "p/";
constexpr std::string_view kGroupPrefix = "g/";
constexpr std::string_view kCoordinatedPrefix = "c/";
constexpr std::string_view kMetaKey = "m";

// The "m" key: last_append_time_ms and state_index, 8 bytes little-endian each.
std::string EncodeMeta(int64_t last_append_time_ms, uint64_t state_index) {
  std::string out(16, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(last_append_time_ms) >> (8 * i)));
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<char>(state_index >> (8 * i));
  return out;
}

uint64_t GetLe64(std::string_view v, size_t pos) {
  uint64_t out = 0;
  for (int i = 0; i < 8; ++i) out |= static_cast<uint64_t>(static_cast<uint8_t>(v[pos + i])) << (8 * i);
  return out;
}

}  // namespace

std::string PartitionMachine::ProducerKey(uint64_t producer_id) {
  std::string key(kProducerPrefix);
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((producer_id >> (8 * i)) & 0xff));
  return key;
}

std::string PartitionMachine::GroupKey(std::string_view group) {
  std::string key(kGroupPrefix);
  key.append(group);
  return key;
}

std::string PartitionMachine::CoordinatedGroupKey(std::string_view group) {
  std::string key(kCoordinatedPrefix);
  key.append(group);
  return key;
}

absl::Status PartitionMachine::Load(const StoredState& state, LogPoint applied) {
  applied_index_ = applied.index;
  producers_.clear();
  groups_.clear();
  coordinator_.Clear();
  inflight_.clear();
  end_offset_ = applied.end_offset;
  last_append_time_ms_ = 0;
  state_index_ = 0;
  for (const auto& [key, value] : state) {
    if (key.starts_with(kProducerPrefix)) {
      internal::ProducerState p;
      if (!p.ParseFromString(value))
        return absl::DataLossError(absl::StrCat("producer state '", key, "' corrupt"));
      producers_[p.producer_id()] = std::move(p);
    } else if (key.starts_with(kGroupPrefix)) {
      internal::GroupOffset g;
      if (!g.ParseFromString(value)) return absl::DataLossError(absl::StrCat("group offset '", key, "' corrupt"));
      groups_[key.substr(kGroupPrefix.size())] = std::move(g);
    } else if (key.starts_with(kCoordinatedPrefix)) {
      if (auto s = coordinator_.Put(value); !s.ok()) {
        return absl::DataLossError(absl::StrCat("consumer group '", key, "' corrupt: ", s.message()));
      }
    } else if (key == kMetaKey && value.size() == 16) {
      last_append_time_ms_ = static_cast<int64_t>(GetLe64(value, 0));
      state_index_ = GetLe64(value, 8);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PartitionMachine::Applied> PartitionMachine::Apply(const raft::Entry& entry, StateDelta* delta) {
  Applied out;
  if (entry.type != raft::EntryType::kNormal) return out;
  if (entry.base_offset != end_offset_) {
    return absl::InternalError(absl::StrCat("entry ", entry.index, " has base offset ", entry.base_offset,
                                            " but the partition's end offset is ", end_offset_));
  }
  // Drop in-flight bookkeeping for everything up to this index: it is applied now (or was superseded).
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    auto& q = it->second;
    while (!q.empty() && q.front().index <= entry.index) q.pop_front();
    it = q.empty() ? inflight_.erase(it) : std::next(it);
  }
  int64_t append_time = EntryAppendTime(entry.data);
  if (entry.index <= state_index_) {
    // Already reflected in the state (installed from a snapshot taken at state_index_): only the offsets move.
    out.records = entry.record_count > 0;
    out.base_offset = entry.base_offset;
    out.record_count = entry.record_count;
    out.append_time_ms = append_time;
    end_offset_ = entry.end_offset();
    applied_index_ = entry.index;
    return out;
  }
  switch (EntryKindOf(entry.data)) {
    case EntryKind::kRecordBatch: {
      // The summary, not the records: applying needs the count and the producer's fields, and every replica
      // applies every batch (a full decode copied every key and value once more on each node).
      auto summary = DecodeBatchSummary(entry.data);
      if (!summary.ok()) return summary.status();
      const internal::RecordBatch* batch = &summary->batch;
      // A compressed batch's count was checked against its records when the leader validated the Produce, and the
      // entry CRC covers it since: no need to decompress here. A compacted batch (a follower catching up from a
      // compacted log) spans the entry's offsets with fewer records, each at its own delta.
      if (BatchRecordCount(*summary) != entry.record_count) {
        return absl::DataLossError(absl::StrCat("entry ", entry.index, " says ", entry.record_count,
                                                " records but holds ", BatchRecordCount(*summary)));
      }
      if (auto s = CheckCompactedBatch(*summary, entry.record_count); !s.ok()) {
        return absl::DataLossError(absl::StrCat("entry ", entry.index, ": ", s.message()));
      }
      out.records = true;
      out.base_offset = entry.base_offset;
      out.record_count = entry.record_count;
      out.append_time_ms = append_time;
      if (batch->producer_id() != 0) {
        internal::ProducerBatch b;
        b.set_first_sequence(batch->sequence());
        b.set_record_count(entry.record_count);
        b.set_base_offset(entry.base_offset);
        b.set_append_time_ms(append_time);
        b.set_term(entry.term);
        b.set_raft_index(entry.index);
        b.set_body_crc(OriginalBodyCrc(entry.data, *batch));  // a retry of a compacted batch stays a duplicate
        RememberBatch(batch->producer_id(), batch->producer_epoch(), b, delta);
      }
      // Every 256th entry, forget producers idle past the retention (deterministic: entry index and append time).
      if (entry.index % 256 == 0) ExpireProducers(append_time, delta);
      break;
    }
    case EntryKind::kOffsetCommit:
      if (auto s = ApplyOffsetCommit(entry, append_time, delta); !s.ok()) return s;
      break;
    case EntryKind::kGroupCommand:
      if (auto s = ApplyGroupCommand(entry, out, delta); !s.ok()) return s;
      break;
    default:
      return absl::DataLossError(absl::StrCat("entry ", entry.index, " has unknown kind"));
  }
  end_offset_ = entry.end_offset();
  applied_index_ = entry.index;
  if (append_time > last_append_time_ms_) {
    last_append_time_ms_ = append_time;
    delta->Put(std::string(kMetaKey), EncodeMeta(last_append_time_ms_, state_index_));
  }
  return out;
}

absl::Status PartitionMachine::ApplyOffsetCommit(const raft::Entry& entry, int64_t append_time,
                                                 StateDelta* delta) {
  auto commit = DecodeOffsetCommit(entry.data);
  if (!commit.ok()) return commit.status();
  internal::GroupOffset g;
  g.set_offset(commit->offset());
  g.set_metadata(commit->metadata());
  g.set_commit_time_ms(append_time);
  delta->Put(GroupKey(commit->group()), g.SerializeAsString());
  groups_[commit->group()] = std::move(g);
  return absl::OkStatus();
}

absl::Status PartitionMachine::ApplyGroupCommand(const raft::Entry& entry, Applied& out, StateDelta* delta) {
  auto command = DecodeGroupCommand(entry.data);
  if (!command.ok()) return command.status();
  out.group_command = true;
  out.group = coordinator_.Apply(*command);
  if (out.group.group_deleted) {
    delta->Delete(CoordinatedGroupKey(command->group()));
  } else if (out.group.status.ok()) {
    delta->Put(CoordinatedGroupKey(command->group()), coordinator_.Serialized(command->group()));
  }
  return absl::OkStatus();
}

void PartitionMachine::RememberBatch(uint64_t producer_id, uint32_t epoch, const internal::ProducerBatch& batch,
                                     StateDelta* delta) {
  auto [it, fresh] = producers_.try_emplace(producer_id);
  auto& p = it->second;
  if (!fresh && epoch < p.epoch()) return;  // a fenced instance's batch: written, but its window is gone
  if (fresh || epoch > p.epoch()) {
    // A new producer, or a new instance of a named one: its window starts with this batch.
    p.set_producer_id(producer_id);
    p.set_epoch(epoch);
    p.clear_batches();
  }
  *p.add_batches() = batch;
  while (static_cast<uint32_t>(p.batches_size()) > Limits::kIdempotenceWindowBatches) {
    p.mutable_batches()->DeleteSubrange(0, 1);
  }
  p.set_last_append_time_ms(batch.append_time_ms());
  delta->Put(ProducerKey(producer_id), p.SerializeAsString());
  // Forget the least recently used producer when the table is full. Deterministic on every replica: oldest last
  // append time, then (times tie within a millisecond) oldest last batch by Raft index, so the producer just
  // written is never the one forgotten.
  if (producers_.size() > Limits::kMaxProducersPerPartition) {
    auto last_used = [](const internal::ProducerState& p) {
      uint64_t index = p.batches_size() > 0 ? p.batches(p.batches_size() - 1).raft_index() : 0;
      return std::make_pair(p.last_append_time_ms(), index);
    };
    auto victim = producers_.begin();
    for (auto it = producers_.begin(); it != producers_.end(); ++it) {
      if (last_used(it->second) < last_used(victim->second)) victim = it;
    }
    delta->Delete(ProducerKey(victim->first));
    producers_.erase(victim);
  }
}

void PartitionMachine::ExpireProducers(int64_t now_ms, StateDelta* delta) {
  // now_ms is an entry's append time, which its body CRC does not cover: the cutoff must not overflow.
  constexpr int64_t kRetention = static_cast<int64_t>(Limits::kProducerRetentionMs);
  const int64_t cutoff = now_ms < std::numeric_limits<int64_t>::min() + kRetention
                             ? std::numeric_limits<int64_t>::min()
                             : now_ms - kRetention;
  for (auto it = producers_.begin(); it != producers_.end();) {
    if (it->second.last_append_time_ms() >= cutoff || inflight_.contains(it->first)) {
      ++it;
      continue;
    }
    delta->Delete(ProducerKey(it->first));
    it = producers_.erase(it);
  }
}

PartitionMachine::Decision PartitionMachine::CheckProduce(const ProduceKey& key) const {
  Decision d;
  if (key.producer_id == 0) return d;
  const internal::ProducerState* state = nullptr;
  if (auto it = producers_.find(key.producer_id); it != producers_.end()) state = &it->second;
  const std::deque<InFlight>* flying = nullptr;
  if (auto it = inflight_.find(key.producer_id); it != inflight_.end() && !it->second.empty())
    flying = &it->second;
  // The epoch the partition knows: of the last batch in flight, else of the remembered producer.
  const bool known = flying != nullptr || state != nullptr;
  const uint32_t epoch = flying != nullptr ? flying->back().epoch : (state != nullptr ? state->epoch() : 0);
  if (known && key.epoch < epoch) {
    d.verdict = Verdict::kFenced;
    d.current_epoch = epoch;
    return d;
  }
  if (!known || key.epoch > epoch) {
    // Never seen at this epoch (or forgotten): only a first batch can be told apart from a lost history.
    if (key.sequence != 0) d.verdict = Verdict::kUnknownProducer;
    return d;
  }
  uint64_t expected = 0;
  if (flying != nullptr) {
    expected = flying->back().sequence + flying->back().count;
  } else if (state->batches_size() > 0) {
    const auto& last = state->batches(state->batches_size() - 1);
    expected = last.first_sequence() + last.record_count();
  }
  if (key.sequence == expected) return d;
  if (key.sequence < expected) {
    d = CheckRetry(key, state, flying);
    if (d.verdict != Verdict::kNew) return d;
  }
  d.verdict = Verdict::kSequenceGap;
  d.expected_sequence = expected;
  return d;
}

PartitionMachine::Decision PartitionMachine::CheckRetry(const ProduceKey& key,
                                                        const internal::ProducerState* state,
                                                        const std::deque<InFlight>* flying) const {
  Decision d;
  if (flying != nullptr) {
    for (const auto& f : *flying) {
      if (f.sequence != key.sequence || f.count != key.count || f.epoch != key.epoch) continue;
      if (f.body_crc != key.body_crc) {
        d.verdict = Verdict::kSequenceReused;
        d.original.set_first_sequence(f.sequence);
        d.original.set_record_count(f.count);
        d.original.set_raft_index(f.index);
        return d;
      }
      d.verdict = Verdict::kInFlight;
      d.inflight_index = f.index;
      return d;
    }
  }
  if (state == nullptr || state->epoch() != key.epoch) return d;
  for (const auto& b : state->batches()) {
    if (b.first_sequence() != key.sequence || b.record_count() != key.count) continue;
    d.verdict = b.has_body_crc() && b.body_crc() != key.body_crc ? Verdict::kSequenceReused : Verdict::kDuplicate;
    d.original = b;
    return d;
  }
  return d;
}

void PartitionMachine::AddInFlight(const ProduceKey& key, raft::Index index) {
  if (key.producer_id == 0) return;
  inflight_[key.producer_id].push_back(InFlight{key.sequence, key.count, key.epoch, key.body_crc, index});
}

std::string PartitionMachine::Snapshot() const {
  internal::PartitionSnapshot snap;
  for (const auto& [id, p] : producers_) *snap.add_producers() = p;
  for (const auto& [name, g] : groups_) (*snap.mutable_groups())[name] = g;
  if (!coordinator_.groups().empty()) snap.set_coordinator(coordinator_.Snapshot());
  snap.set_last_append_time_ms(last_append_time_ms_);
  // After a Restore, the state may reflect entries past the applied index (re-apply still under way).
  snap.set_state_index(std::max(applied_index_, state_index_));
  return snap.SerializeAsString();
}

absl::Status PartitionMachine::Restore(std::string_view snapshot, LogPoint log_start, StateDelta* delta) {
  applied_index_ = log_start.index;
  internal::PartitionSnapshot snap;
  if (!snapshot.empty() && !snap.ParseFromArray(snapshot.data(), static_cast<int>(snapshot.size()))) {
    return absl::DataLossError("partition snapshot does not parse");
  }
  // Keys the snapshot does not have are deleted; the others are overwritten below.
  std::set<uint64_t> keep_producers;
  for (const auto& p : snap.producers()) keep_producers.insert(p.producer_id());
  for (const auto& [id, p] : producers_) {
    if (!keep_producers.contains(id)) delta->Delete(ProducerKey(id));
  }
  for (const auto& [name, g] : groups_) {
    if (!snap.groups().contains(name)) delta->Delete(GroupKey(name));
  }
  GroupCoordinator coordinator;
  if (auto s = coordinator.Restore(snap.coordinator()); !s.ok()) return s;
  for (const auto& [name, g] : coordinator_.groups()) {
    if (coordinator.Find(name) == nullptr) delta->Delete(CoordinatedGroupKey(name));
  }
  coordinator_ = std::move(coordinator);
  for (const auto& [name, g] : coordinator_.groups()) {
    delta->Put(CoordinatedGroupKey(name), coordinator_.Serialized(name));
  }
  producers_.clear();
  groups_.clear();
  inflight_.clear();
  for (const auto& p : snap.producers()) {
    producers_[p.producer_id()] = p;
    delta->Put(ProducerKey(p.producer_id()), p.SerializeAsString());
  }
  for (const auto& [name, g] : snap.groups()) {
    groups_[name] = g;
    delta->Put(GroupKey(name), g.SerializeAsString());
  }
  last_append_time_ms_ = snap.last_append_time_ms();
  state_index_ = snap.state_index();
  delta->Put(std::string(kMetaKey), EncodeMeta(last_append_time_ms_, state_index_));
  end_offset_ = log_start.end_offset;
  return absl::OkStatus();
}

}  // namespace brook::server
