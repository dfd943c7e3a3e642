// KV caches: what each attention layer keeps of past keys and values between
// forward calls. One small interface, three kinds (llama.cpp's memory
// interface idea), so a layer holds only what its attention kind needs:
//   full: every position, growing up to a fixed capacity, head-major (and
//         for head size 8 a second copy of keys and values in lanes, see KvSpan);
//   sliding window W: a ring of the last W positions (memory independent of context);
//   skip: nothing.
// Keys are stored after RoPE, so a cached key never needs re-rotating.
//
// Legend: T tokens, KVH kv heads, HS head size.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/model/arch_config.hpp"

namespace flashnas {

// Keys and values of consecutive positions [first, first + count). The HS
// floats of position first+j, kv head h start at k + h*head_stride + j*row_stride
// (likewise v): row-major (count, KVH*HS) has row_stride KVH*HS and head_stride
// HS; head-major (KVH, capacity, HS) has row_stride HS, so one head's keys are
// contiguous and decode attention streams them without touching other heads.
// Valid until the cache's next append or clear.
//
// A cache may also hand out the keys and values a second time with the
// positions in the lanes of a register (k_lanes and v_lanes, or null): blocks
// of 8 span indices, dimension i of index j of kv head h at k_lanes +
// h*lanes_head_stride + (j/8)*8*HS + i*8 + j%8 (likewise v_lanes). A query's
// scores for 8 keys are then HS FMAs of a broadcast query dimension against a
// key vector, and its output HS FMAs of the 8 keys' weights against a value
// vector, with no horizontal sums per key (decode with head size 8,
// attention.cpp). Lanes of a block past count hold finite values.
struct KvSpan {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t first = 0;
  int64_t count = 0;
  int64_t row_stride = 0;   // floats between consecutive positions
  int64_t head_stride = 0;  // floats between consecutive kv heads
  const float* k_lanes = nullptr;  // (KVH, blocks, HS, 8) or null
  const float* v_lanes = nullptr;  // (KVH, blocks, HS, 8) or null
  int64_t lanes_head_stride = 0;   // floats between consecutive kv heads in k_lanes, v_lanes
};

// The head size whose full caches also keep keys and values in lanes (the decode kernel
// that reads them, attend_group_hs8, handles this size only).
constexpr int64_t kKeysInLanesHeadDim = 8;

class KvCache {
 public:
  virtual ~KvCache() = default;

  // Stores keys and values of positions [pos0, pos0 + T) (pos0 must equal
  // positions()) and returns a span holding every position that a query in
  // [pos0, pos0 + T) may attend to, including these new ones.
  // k, v (T, KVH*HS).
  virtual KvSpan append(const float* k, const float* v, int64_t pos0, int64_t T) = 0;
  virtual void clear() = 0;
  virtual int64_t positions() const = 0;  // how many positions have been appended
  virtual int64_t bytes() const = 0;      // memory currently held
};

struct KvCacheOptions {
  int64_t kv_dim = 0;         // KVH*HS
  int64_t head_dim = 0;       // HS (divides kv_dim); a full cache keeps each head contiguous
  int64_t max_positions = 0;  // capacity of a full cache; appends beyond it throw
  int64_t max_batch = 0;      // most positions one append may carry
};

// The cache a layer of this kind needs (an empty one for skip layers).
std::unique_ptr<KvCache> make_kv_cache(const LayerConfig& layer, const KvCacheOptions& options);

}  // namespace flashnas
