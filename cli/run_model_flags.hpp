// Flags shared by the commands that run a model (generate, eval, and the
// latency commands for --weights): loading the checkpoint named by --model,
// overriding layer kinds with --layer-types, reading --threads and --weights. Not the commands themselves (cmd_generate.cpp, cmd_eval.cpp).
#pragma once

#include <string>
#include <vector>

#include "common/flags.hpp"
#include "engine/model/model.hpp"
#include "engine/runtime/weight_matrix.hpp"

namespace flashnas::cli {

// The FlagSpecs of --model, --layer-types and --threads, to append to a command's own.
std::vector<FlagSpec> run_model_flag_specs();

// Loads --model (a GGUF file), requires a tokenizer, applies --layer-types.
// Throws InvalidInput naming the flag.
Model load_run_model(const Flags& flags);

int threads_flag(const Flags& flags);  // --threads, default 1

FlagSpec weights_flag_spec();                  // --weights f32 | q8_0
WeightFormat weights_flag(const Flags& flags);  // --weights, default f32

}  // namespace flashnas::cli
