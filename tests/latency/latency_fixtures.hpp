// The small search space and model shape the latency tests share.
#pragma once

#include "engine/latency/model_shape.hpp"
#include "engine/search/arch_space.hpp"

namespace flashnas::test {

// 2-8 layers, d_model 64-256, d_ffn 128-1024, sliding window 16.
inline search::ArchSpace small_latency_space() {
  search::ArchSpaceOptions o;
  o.n_layers = {2, 8, 1};
  o.d_model = {64, 256, 32};
  o.d_ffn = {128, 1024, 64};
  o.sliding_windows = {16};
  return search::ArchSpace(o);
}

// 4 heads, 2 KV heads, head size 16, vocabulary 1000, untied.
inline const latency::ModelShape kSmallLatencyShape{4, 2, 16, 1000, false};

}  // namespace flashnas::test
