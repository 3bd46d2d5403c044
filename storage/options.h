// How a Store is opened. Every field has a default fit for a Brook node; storage/README.md gives the reasons.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "raft/types.h"

namespace brook::storage {

enum class Compression : uint8_t {
  kNone = 0,
  kLz4 = 1,   // Fast, about 2x on text-like record batches; the default for entries.
  kZstd = 2,  // Smaller files for more CPU; for disk-bound nodes with spare cores.
};

struct Options {
  // Whether mutating calls fsync the WAL before returning (default true). A Write() call can still ask for no
  // sync (etcd's MustSync=false: only the commit index changed). Turning this off loses the durability Raft
  // relies on; it exists for tests and for benchmarks that measure everything but the disk.
  bool sync = true;

  // Memtable size of the `log` column family, and how many memtables may exist before writes stall (default
  // 128 MiB x 4). Large, because every entry is written once and deleted in big prefixes: a large memtable means
  // fewer, larger L0 files, and a prefix dropped before its memtable flushes never reaches disk at all.
  size_t log_write_buffer_bytes = size_t{128} << 20;
  int log_max_write_buffers = 4;

  // Memtable size of the `state` and `index` column families (default 32 MiB each): small, hot keys.
  size_t state_write_buffer_bytes = size_t{32} << 20;

  // Block cache shared by all column families (default 256 MiB). Fetches of recent data are served from the
  // memtable; the cache serves catch-up reads of followers and consumers a little behind.
  size_t block_cache_bytes = size_t{256} << 20;

  // Compression of SST blocks of the `log` column family (default LZ4). The WAL and memtables are not compressed.
  Compression log_compression = Compression::kLz4;

  // RocksDB background threads for flushes and compactions (default 2: the machines have 2 cores).
  int max_background_jobs = 2;

  // The timestamp (ms since the epoch) of a data entry, for the time index (FindOffsetForTimestamp and
  // RetentionCutForTime). Called by Write() on the writer thread for every entry with record_count > 0; entries
  // without records inherit the previous entry's timestamp. The host guarantees it is non-decreasing per group;
  // a smaller value is clamped up to the previous one so the index stays sorted. Empty (default): no time index,
  // and the time calls return FailedPreconditionError.
  std::function<int64_t(const raft::Entry&)> entry_timestamp_ms;

  // Sparseness of the offset index, as Kafka's index.interval.bytes (default 4096): an entry gets an offset key
  // when at least this many bytes of log were written since the group's previous one (and always the first entry
  // after Open, a truncation or a snapshot). FindIndexForOffset then reads at most about this many bytes of log
  // after its seek. 0 indexes every entry. Fewer keys mean fewer memtable inserts per entry on the write path.
  uint32_t index_interval_bytes = 4096;

  // DropPrefix/DropGroup compact the dropped key range in the background once at least this many bytes were
  // dropped from a group (default 64 MiB), so the disk is reclaimed now rather than when compaction happens to
  // reach those files. 0 disables it.
  uint64_t compact_after_drop_bytes = uint64_t{64} << 20;

  // Flushes and compactions write (and compactions read) SST files with O_DIRECT (default true), when the data
  // directory's file system accepts it: Open checks by writing one aligned block, and falls back to buffered I/O
  // where it does not (tmpfs, some overlay file systems). Every byte of the log is written twice, to the WAL and
  // later to an SST file; through the page cache the second write cost a kernel copy of every byte (about 12% of
  // a node's CPU when writing 50 MB/s, docs/performance.md). A flush then puts the blocks it writes in the block
  // cache, so recent data still reads from memory. The WAL stays buffered (RocksDB has no direct WAL writes) and
  // durable by its sync, as before.
  bool direct_io_for_flush = true;

  // Flush memtables when the Store is destroyed (default true), so that a clean restart (a rolling upgrade) opens
  // in milliseconds instead of replaying up to max_total_wal_size of WAL. A crash still replays the WAL.
  bool flush_on_close = true;

  // Flush what the WAL replay recovered during Open (default true; store.cc says why it matters after torn
  // writes). brookd turns it off only when its disk is nearly full at start, where the flush would fail and the
  // node could not even serve reads; the WAL files are then kept until the node restarts with space.
  bool flush_recovered = true;

  // Create the database if `dir` holds none (default true).
  bool create_if_missing = true;
};

}  // namespace brook::storage
