// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every value Brook stores and of every
// record batch it moves between nodes.
//
// Pure functions, thread-safe, no allocation. On x86-64 CPUs with SSE4.2 (checked once at run time) the
// hardware CRC32 instruction processes 8 bytes per step, several GB/s per core; elsewhere a slicing-by-8 table
// (about 1 GB/s) computes the same value. Known answer: Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstdint>
#include <string_view>

namespace brook::storage {

// Extends `crc` (the CRC-32C of some prefix, 0 for the empty prefix) with `data`: for any split of a string s
// into a + b, Crc32cExtend(Crc32c(a), b) == Crc32c(s). Use it to checksum a value written in pieces (a header
// and a payload) without copying them together.
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);

// The CRC-32C of `data`.
inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

// Whether the hardware path is in use (for logs and benchmarks only; the result never depends on it).
bool Crc32cHardwareAccelerated();

namespace internal {
// The portable table path, exposed so tests can check it against the hardware path on the same inputs.
uint32_t Crc32cExtendPortable(uint32_t crc, std::string_view data);
}  // namespace internal

}  // namespace brook::storage
