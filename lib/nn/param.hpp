// A trainable parameter as views (spec quantize-climbq 3.1): the optimiser (nn/sgd) iterates a
// std::vector<Param<T>> and applies g <- g + wd*w when `decay`, v <- mu*v + g, w <- w - lr*v,
// skipping `frozen` parameters. Frozen parameters also get no gradient from their layer, but the
// layer still passes gradients back to its input (DESIGN.md, lib/nn).
#pragma once

#include <string>
#include <vector>

#include "nn/tensor.hpp"

namespace effinfer::nn {

template <class T>
struct Param {
  std::string name;  // "<layer>/<param>" inside a Sequential, e.g. "conv1/W"; HDF5 path
  Tensor<T>* value = nullptr;
  Tensor<T>* grad = nullptr;  // same shape as value; nullptr for non-trainable state (buffers)
  bool decay = true;          // weight decay applies
  bool frozen = false;        // no gradient is accumulated and the optimiser skips it
};

// Appends `params` to `out` with names prefixed "<prefix>/" (a layer exposing the parameters of a
// part it owns, e.g. its weight transform).
template <class T>
void append_prefixed(std::vector<Param<T>>& out, std::vector<Param<T>> params,
                     const std::string& prefix) {
  for (auto& q : params) {
    q.name = prefix + "/" + q.name;
    out.push_back(std::move(q));
  }
}

}  // namespace effinfer::nn
