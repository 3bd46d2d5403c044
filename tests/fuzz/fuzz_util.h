// What the fuzz targets share: the framing of their structured inputs (FrameReader, and FrameWriter for the
// corpus generator) and the per-input allocation bound (AllocationBound). docs/fuzzing.md describes the targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace brook::fuzz {

// Structured inputs are a sequence of fields: U8, U32, U64 little-endian, and Bytes (a u16 length, then that many
// bytes). A reader past the end gets zeros and empty bytes (never fails), so every input means something.
class FrameReader {
 public:
  FrameReader(const uint8_t* data, size_t size) : in_(reinterpret_cast<const char*>(data), size) {}
  bool empty() const { return in_.empty(); }
  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  std::string_view Bytes() {
    size_t n = Fixed(2);
    if (n > in_.size()) n = in_.size();
    std::string_view out = in_.substr(0, n);
    in_.remove_prefix(n);
    return out;
  }

 private:
  uint64_t Fixed(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < in_.size(); ++i) v |= uint64_t{static_cast<uint8_t>(in_[i])} << (8 * i);
    in_.remove_prefix(n < in_.size() ? n : in_.size());
    return v;
  }
  std::string_view in_;
};

// The corpus generator's side of FrameReader.
class FrameWriter {
 public:
  FrameWriter& U8(uint8_t v) { return Fixed(v, 1); }
  FrameWriter& U32(uint32_t v) { return Fixed(v, 4); }
  FrameWriter& U64(uint64_t v) { return Fixed(v, 8); }
  FrameWriter& Bytes(std::string_view b) {
    Fixed(b.size(), 2);
    out_.append(b.substr(0, 0xFFFF));
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  FrameWriter& Fixed(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  std::string out_;
};

// Fails the run (abort: libFuzzer saves the input) with a message, for properties the targets check. Build a long
// message under an AllocationBoundPause.
[[noreturn]] void Fail(std::string_view what);

// Within its scope, no single allocation may exceed `base_bytes + factor * input_size`: a decoder must not
// allocate for a length or count its input claims beyond what the input can hold. Watches through the
// sanitizer allocator's hooks; one scope at a time (the targets are single-threaded).
class AllocationBound {
 public:
  AllocationBound(size_t input_size, size_t base_bytes = 4096, size_t factor = 128);
  ~AllocationBound();
  AllocationBound(const AllocationBound&) = delete;
  AllocationBound& operator=(const AllocationBound&) = delete;
};

// Suspends the bound for work whose size a validated limit bounds rather than the input (a CreateTopic of 1,024
// partitions from a few bytes is fine: the limit allows it).
class AllocationBoundPause {
 public:
  AllocationBoundPause();
  ~AllocationBoundPause();
  AllocationBoundPause(const AllocationBoundPause&) = delete;
  AllocationBoundPause& operator=(const AllocationBoundPause&) = delete;

 private:
  bool was_active_;
};

}  // namespace brook::fuzz
