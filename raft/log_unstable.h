// The part of a node's log not yet handed to the host as durable: entries appended since the last Advance (and a
// snapshot to install). Everything before `offset` is in the durable LogReader.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace brook::raft {

struct UnstableLog {
  // Index of entries[0] (or where it would be). Invariant: entries[k].index == offset + k. Entries of the
  // LogReader at indexes >= offset are stale (about to be overwritten by the host) and must not be read.
  Index offset = 1;
  std::vector<Entry> entries;
  // A snapshot received from the leader, to be installed by the host. When set, offset == snapshot->index + 1.
  std::optional<SnapshotMeta> snapshot;
  std::string snapshot_data;

  Index LastIndex() const { return offset + entries.size() - 1; }
  bool Contains(Index i) const { return i >= offset && i < offset + entries.size(); }

  // Appends entries (numbered consecutively from batch[0].index), first dropping everything at or after
  // batch[0].index (which may be below offset: the host then truncates its durable log from there, README.md
  // "Persistence contract"). Only ever shrinks before it appends: a batch starting past LastIndex() + 1 would
  // leave a gap and is refused (false, nothing changed). Once, a batch from the network whose first entry claimed
  // an index 2^40 past the end was "filled up to" with 2^40 default entries here (std::bad_alloc).
  bool TruncateAndAppend(std::vector<Entry> batch) {
    if (batch.empty()) return true;
    const Index first = batch.front().index;
    if (first > offset + entries.size()) return false;
    if (first <= offset) {
      offset = first;
      entries.clear();
    } else {
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(first - offset), entries.end());
    }
    for (Entry& e : batch) entries.push_back(std::move(e));
    return true;
  }

  // The host made entries up to (index, term) durable. Ignored when the entry at index was replaced in the
  // meantime (its term differs): those replacements are still to be persisted.
  void StableTo(Index index, Term term) {
    if (!Contains(index) || entries[index - offset].term != term) return;
    entries.erase(entries.begin(), entries.begin() + (index + 1 - offset));
    offset = index + 1;
  }

  void Restore(const SnapshotMeta& meta, std::string data) {
    entries.clear();
    offset = meta.index + 1;
    snapshot = meta;
    snapshot_data = std::move(data);
  }
};

}  // namespace brook::raft
