// Choosing a partition for a record: the cross-language contract of docs/api.md ("Partitioning").
//
// A record with a key goes to fnv1a32(key) % partition_count, where fnv1a32 is FNV-1a 32-bit over the key bytes
// (offset basis 2166136261, prime 16777619). Records without a key go round-robin. Every Brook client (C++,
// Python, Node.js) computes the same partition for the same key.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace brook::client {

// FNV-1a 32-bit over `data`.
constexpr uint32_t Fnv1a32(std::string_view data) {
  uint32_t hash = 2166136261u;
  for (char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return hash;
}

// The partition of a keyed record. partition_count must be > 0.
constexpr uint32_t PartitionForKey(std::string_view key, uint32_t partition_count) {
  return Fnv1a32(key) % partition_count;
}

// Keyed records by hash, keyless ones round-robin. Thread-safe (the round-robin counter is atomic).
class Partitioner {
 public:
  uint32_t Partition(std::string_view key, uint32_t partition_count) {
    if (!key.empty()) return PartitionForKey(key, partition_count);
    return next_.fetch_add(1, std::memory_order_relaxed) % partition_count;
  }

 private:
  std::atomic<uint32_t> next_{0};
};

}  // namespace brook::client
