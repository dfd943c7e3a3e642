// ForwardObserver: an optional hook that sees the activations of a forward
// pass, layer by layer, for calibration (pruning importance, block influence)
// and debugging. Not a way to modify the computation: every view is const.
//
// Pass one to InferenceSession::prefill (PrefillOptions::observer) or
// evaluate_nll (EvalOptions::observer). A null observer costs nothing: the
// forward pass checks the pointer and skips the extra copy it would make.
//
// Every activation arrives as an ActivationView: `rows` tokens (the T of this
// forward call, i.e. one prefill batch) by `cols` features, row-major. Views
// point into the session's scratch and are valid only during the callback.
//
// Callback order for each layer l (skip layers have no attention callbacks):
//   layer_input(l, x)                    residual entering the layer          (T, C)
//   attention_norm(l, xn)                after attn_norm                      (T, C)
//   attention_residual(l, in, out)       residual before/after the attention
//                                        add: 1 - cos(in, out) per row is the
//                                        attention sub-block's influence      (T, C) x 2
//   ffn_norm(l, xn)                      after ffn_norm                       (T, C)
//   ffn_hidden(l, h)                     silu(gate) * up, the input of the
//                                        down projection                      (T, FF_l)
//   layer_output(l, in, out)             residual entering and leaving the
//                                        whole layer (block influence)        (T, C) x 2
// then once per forward call:
//   final_residual(x)                    residual after the last layer        (T, C)
//   final_norm(xn)                       after out_norm, the head's input     (T, C)
// With several prefill chunks (prompt longer than max_batch) the sequence of
// callbacks repeats per chunk; `pos0` gives the chunk's first position.
#pragma once

#include <cstdint>

namespace flashnas {

struct ActivationView {
  const float* data = nullptr;
  int64_t rows = 0;  // tokens of this forward call
  int64_t cols = 0;  // features (C, or FF of the layer)
  int64_t pos0 = 0;  // position of row 0 in the sequence
  const float* row(int64_t r) const { return data + r * cols; }
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void layer_input(int64_t /*layer*/, const ActivationView& /*x*/) {}
  virtual void attention_norm(int64_t /*layer*/, const ActivationView& /*xn*/) {}
  virtual void attention_residual(int64_t /*layer*/, const ActivationView& /*in*/,
                                  const ActivationView& /*out*/) {}
  virtual void ffn_norm(int64_t /*layer*/, const ActivationView& /*xn*/) {}
  virtual void ffn_hidden(int64_t /*layer*/, const ActivationView& /*h*/) {}
  virtual void layer_output(int64_t /*layer*/, const ActivationView& /*in*/,
                            const ActivationView& /*out*/) {}
  virtual void final_residual(const ActivationView& /*x*/) {}
  virtual void final_norm(const ActivationView& /*xn*/) {}
};

}  // namespace flashnas
