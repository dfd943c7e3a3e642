// Model: what a loader returns and the runtime runs: config + weights +
// (optionally) the tokenizer that came with the checkpoint.
#pragma once

#include <memory>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"

namespace flashnas {

class Tokenizer;  // engine/model/tokenizer.hpp

struct Model {
  ArchConfig config;
  ModelWeights weights;
  std::shared_ptr<const Tokenizer> tokenizer;  // null for synthetic models
};

}  // namespace flashnas
