// The record values `brook bench produce` writes (--record-kind): what the data looks like decides what
// compression achieves, so the benchmark says which kind it measured.
//
// Pure and deterministic: the same kind, size, count and seed give the same values, so runs compare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace brook::cli {

enum class RecordKind {
  kRandom,  // uniformly random bytes: incompressible, the worst case for compression
  kJson,    // JSON-like order events: realistic field names and values, as services log and exchange them
};

// "random" or "json"; INVALID_ARGUMENT otherwise.
absl::StatusOr<RecordKind> ParseRecordKind(std::string_view name);

// One JSON-like order event of exactly `size` bytes (a complete JSON object from about 450 bytes up; below that
// the object is cut short).
std::string JsonEvent(std::mt19937_64& rng, size_t size);

// `count` values of `size` bytes each. The benchmark cycles through them: with `count` above the records of any
// one batch (10,000 at most), no batch holds the same value twice, so compression finds no repeats that real data
// would not have.
std::vector<std::string> MakeBenchValues(RecordKind kind, size_t size, size_t count, uint64_t seed = 42);

}  // namespace brook::cli
