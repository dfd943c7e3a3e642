// Full, sliding-window (ring buffer) and empty KV caches (see kv_cache.hpp).
#include "engine/runtime/kv_cache.hpp"

#include <algorithm>
#include <cstring>

#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

void copy_rows(float* dst, const float* src, int64_t rows, int64_t kv_dim) {
  if (rows == 0) return;  // an empty cache has no buffer yet: memcpy must not see null
  std::memcpy(dst, src, static_cast<size_t>(rows * kv_dim) * sizeof(float));
}

void check_append(int64_t pos0, int64_t T, int64_t stored, int64_t max_batch) {
  FLASHNAS_CHECK(pos0 == stored, "KV cache append at position {} but {} positions are stored",
                 pos0, stored);
  FLASHNAS_CHECK(T >= 1 && T <= max_batch, "KV cache append of {} positions (max batch {})", T,
                 max_batch);
}

// Every position, in order, head-major: kv head h of position p at
// (h*capacity + p)*HS, so decode reads one head's keys as one contiguous run.
// Storage doubles as it grows (no per-token allocation in decode; each growth
// re-lays the heads out) but never beyond max_positions.
class FullKvCache final : public KvCache {
 public:
  explicit FullKvCache(const KvCacheOptions& o) : o_(o) {}

  KvSpan append(const float* k, const float* v, int64_t pos0, int64_t T) override {
    check_append(pos0, T, n_, o_.max_batch);
    if (n_ + T > o_.max_positions) {
      throw Error(fmt::format("context of {} positions exceeds the KV cache capacity {}", n_ + T,
                              o_.max_positions));
    }
    reserve(n_ + T);
    const int64_t HS = o_.head_dim, KVH = o_.kv_dim / HS;
    for (int64_t t = 0; t < T; ++t) {  // row t (KVH*HS) -> head h, position n_+t
      const int64_t p = n_ + t;
      for (int64_t h = 0; h < KVH; ++h) {
        const int64_t dst = (h * capacity_ + p) * HS;
        copy_rows(k_.data() + dst, k + t * o_.kv_dim + h * HS, 1, HS);
        copy_rows(v_.data() + dst, v + t * o_.kv_dim + h * HS, 1, HS);
      }
    }
    if (!k_lanes_.empty()) {
      write_lanes(k_lanes_.data(), k, T);
      write_lanes(v_lanes_.data(), v, T);
    }
    n_ += T;
    KvSpan span{k_.data(), v_.data(), 0, n_, HS, capacity_ * HS};
    if (!k_lanes_.empty()) {
      span.k_lanes = k_lanes_.data();
      span.v_lanes = v_lanes_.data();
      span.lanes_head_stride = lanes_capacity() * HS;
    }
    return span;
  }
  void clear() override { n_ = 0; }
  int64_t positions() const override { return n_; }
  int64_t bytes() const override {
    const size_t floats =
        k_.capacity() + v_.capacity() + k_lanes_.capacity() + v_lanes_.capacity();
    return static_cast<int64_t>(floats * sizeof(float));
  }

 private:
  int64_t lanes_capacity() const { return (capacity_ + 7) / 8 * 8; }  // whole blocks

  // Keys (or values) x (T, KVH*HS) of positions n_ .. n_+T-1 into lanes
  // (k_lanes_ or v_lanes_, head size 8): dimension i of position p at block
  // p/8, row i, lane p%8 of its head. Eight new positions filling a block are
  // one 8x8 transpose, others go one by one.
  void write_lanes(float* lanes, const float* k, int64_t T) {
    const int64_t HS = o_.head_dim, KVH = o_.kv_dim / HS;
    for (int64_t h = 0; h < KVH; ++h) {
      float* head = lanes + h * lanes_capacity() * HS;
      for (int64_t t = 0; t < T;) {
        const int64_t p = n_ + t;
        float* block = head + p / 8 * 8 * HS;
#ifdef FLASHNAS_AVX2
        if (p % 8 == 0 && t + 8 <= T) {
          __m256 rows[8];
          for (int64_t i = 0; i < 8; ++i) rows[i] = _mm256_loadu_ps(k + (t + i) * o_.kv_dim + h * HS);
          simd::transpose8(rows);  // rows[i]: dimension i of the 8 positions
          for (int64_t i = 0; i < 8; ++i) _mm256_storeu_ps(block + i * 8, rows[i]);
          t += 8;
          continue;
        }
#endif
        for (int64_t i = 0; i < HS; ++i) block[i * 8 + p % 8] = k[t * o_.kv_dim + h * HS + i];
        ++t;
      }
    }
  }

  void reserve(int64_t rows) {
    if (rows <= capacity_) return;
    int64_t grow = std::max<int64_t>(64, capacity_);
    while (grow < rows) grow *= 2;
    grow = std::min(grow, o_.max_positions);
    const int64_t HS = o_.head_dim, KVH = o_.kv_dim / HS;
    std::vector<float> k(static_cast<size_t>(grow * o_.kv_dim)), v(k.size());
    for (int64_t h = 0; h < KVH; ++h) {  // the n_ stored positions of each head move to h*grow
      copy_rows(k.data() + h * grow * HS, k_.data() + h * capacity_ * HS, n_, HS);
      copy_rows(v.data() + h * grow * HS, v_.data() + h * capacity_ * HS, n_, HS);
    }
    if (HS == kKeysInLanesHeadDim) {  // the stored blocks of each head move likewise
      const int64_t old_lanes = lanes_capacity(), new_lanes = (grow + 7) / 8 * 8;
      for (std::vector<float>* lanes : {&k_lanes_, &v_lanes_}) {
        std::vector<float> moved(static_cast<size_t>(KVH * new_lanes * HS));  // zeros: finite
        for (int64_t h = 0; h < KVH; ++h) {
          copy_rows(moved.data() + h * new_lanes * HS, lanes->data() + h * old_lanes * HS,
                    (n_ + 7) / 8, 8 * HS);
        }
        *lanes = std::move(moved);
      }
    }
    k_ = std::move(k);
    v_ = std::move(v);
    capacity_ = grow;
  }

  KvCacheOptions o_;
  int64_t n_ = 0;
  int64_t capacity_ = 0;  // positions per head that k_ and v_ hold
  std::vector<float> k_;  // (KVH, capacity, HS)
  std::vector<float> v_;
  std::vector<float> k_lanes_;  // (KVH, lanes_capacity/8, HS, 8) for head size 8, else empty
  std::vector<float> v_lanes_;  // likewise
};

// The last W positions in a ring written twice, at slot p % W and p % W + W,
// so the window ending at any position is one contiguous run of 2W rows and
// decode reads it without copying. A batched append (prefill) also needs the
// up to W-1 positions before the batch, so it assembles them with the new
// rows in a staging buffer sized W-1 + max_batch.
class SlidingKvCache final : public KvCache {
 public:
  SlidingKvCache(const KvCacheOptions& o, int64_t window)
      : o_(o), w_(window),
        ring_k_(static_cast<size_t>(2 * window * o.kv_dim)),
        ring_v_(ring_k_.size()),
        stage_k_(static_cast<size_t>((window - 1 + o.max_batch) * o.kv_dim)),
        stage_v_(stage_k_.size()) {}

  KvSpan append(const float* k, const float* v, int64_t pos0, int64_t T) override {
    check_append(pos0, T, n_, o_.max_batch);
    const int64_t D = o_.kv_dim;
    KvSpan span;
    if (T == 1) {
      write_ring(k, v, pos0, 1);
      n_ = pos0 + 1;
      span.count = std::min(w_, n_);
      span.first = n_ - span.count;
      const int64_t slot = span.first % w_;
      span.k = ring_k_.data() + slot * D;
      span.v = ring_v_.data() + slot * D;
      span.row_stride = D;
      span.head_stride = o_.head_dim;
      return span;
    }
    const int64_t before = std::min(w_ - 1, n_);  // earlier positions the batch still sees
    const int64_t slot = (n_ - before) % w_;
    copy_rows(stage_k_.data(), ring_k_.data() + slot * D, before, D);
    copy_rows(stage_v_.data(), ring_v_.data() + slot * D, before, D);
    copy_rows(stage_k_.data() + before * D, k, T, D);
    copy_rows(stage_v_.data() + before * D, v, T, D);
    const int64_t keep = std::min(w_, T);  // older batch rows fall out of the window
    write_ring(k + (T - keep) * D, v + (T - keep) * D, pos0 + T - keep, keep);
    n_ = pos0 + T;
    return {stage_k_.data(), stage_v_.data(), pos0 - before, before + T, D, o_.head_dim};
  }
  void clear() override { n_ = 0; }
  int64_t positions() const override { return n_; }
  int64_t bytes() const override {
    return static_cast<int64_t>(
        (ring_k_.size() + ring_v_.size() + stage_k_.size() + stage_v_.size()) * sizeof(float));
  }

 private:
  void write_ring(const float* k, const float* v, int64_t pos0, int64_t T) {
    const int64_t D = o_.kv_dim;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t slot = (pos0 + t) % w_;
      for (int64_t copy : {slot, slot + w_}) {
        copy_rows(ring_k_.data() + copy * D, k + t * D, 1, D);
        copy_rows(ring_v_.data() + copy * D, v + t * D, 1, D);
      }
    }
  }

  KvCacheOptions o_;
  int64_t w_;
  int64_t n_ = 0;
  std::vector<float> ring_k_;   // (2W, KVH*HS)
  std::vector<float> ring_v_;
  std::vector<float> stage_k_;  // (W-1 + max_batch, KVH*HS)
  std::vector<float> stage_v_;
};

// Skip layers have no attention, so nothing is stored; appending is a bug.
class NoKvCache final : public KvCache {
 public:
  KvSpan append(const float*, const float*, int64_t, int64_t) override {
    throw Error("a skip layer has no KV cache");
  }
  void clear() override {}
  int64_t positions() const override { return 0; }
  int64_t bytes() const override { return 0; }
};

}  // namespace

std::unique_ptr<KvCache> make_kv_cache(const LayerConfig& layer, const KvCacheOptions& options) {
  FLASHNAS_CHECK(options.kv_dim > 0 && options.max_positions > 0 && options.max_batch > 0 &&
                     options.head_dim > 0 && options.kv_dim % options.head_dim == 0,
                 "bad KV cache options (kv_dim {}, head_dim {}, max_positions {}, max_batch {})",
                 options.kv_dim, options.head_dim, options.max_positions, options.max_batch);
  switch (layer.kind) {
    case LayerKind::full:
      return std::make_unique<FullKvCache>(options);
    case LayerKind::swa:
      FLASHNAS_CHECK(layer.window > 0, "sliding window must be positive, got {}", layer.window);
      // A window at least as long as the whole context is full attention; the
      // ring never needs to be larger than the context.
      if (layer.window >= options.max_positions) return std::make_unique<FullKvCache>(options);
      return std::make_unique<SlidingKvCache>(options, layer.window);
    case LayerKind::skip:
      return std::make_unique<NoKvCache>();
  }
  throw Error("unknown layer kind");
}

}  // namespace flashnas
