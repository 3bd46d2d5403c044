// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum a producer puts on a compressed batch
// (ProduceRequest.compressed_crc32c) and a consumer checks on one it reads (CompressedBatch.crc32c).
//
// Pure, thread-safe, no allocation; SSE4.2 when the CPU has it, else a slicing-by-8 table, same result.
// Known answer: Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstdint>
#include <string_view>

namespace brook::client {

uint32_t Crc32c(std::string_view data);

}  // namespace brook::client
