// Tensor, Shape and the interfaces of lib/nn.
#include <doctest/doctest.h>

#include <cstdint>

#include "nn/layer.hpp"
#include "nn/param.hpp"
#include "nn/tensor.hpp"
#include "test_support.hpp"

using effinfer::nn::Shape;
using effinfer::nn::Tensor;

TEST_CASE("nn tensor: shape, alignment, matrix view, resize reuses storage") {
  Shape s{2, 3, 4, 5};
  CHECK(s.rank == 4);
  CHECK(s.numel() == 120);
  CHECK(s.inner() == 60);
  CHECK(s.str() == "[2,3,4,5]");
  CHECK(Shape{}.numel() == 0);
  CHECK_THROWS(Shape{1, 2, 3, 4, 5});

  Tensor<float> t(s);
  CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  CHECK(t.size() == 120);
  CHECK(t.dim(3) == 5);
  for (int64_t i = 0; i < t.size(); ++i) CHECK(t[i] == 0.0f);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  auto m = t.matrix();
  CHECK(m.rows() == 2);
  CHECK(m.cols() == 60);
  // Row-major: element (n, h, w, c) is at ((n*3 + h)*4 + w)*5 + c.
  CHECK(m(1, 7) == 67.0f);
  const Tensor<float>& ct = t;
  CHECK(ct.matrix()(0, 59) == 59.0f);

  const float* before = t.data();
  t.resize(Shape{10, 12});
  CHECK(t.data() == before);
  CHECK(t.matrix().rows() == 10);
  CHECK(t.matrix().cols() == 12);
  t.resize(Shape{1000});
  CHECK(t.size() == 1000);
  CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);

  Tensor<double> a(Shape{3});
  a[1] = 2.5;
  Tensor<double> b = a;
  b[1] = 1.0;
  CHECK(a[1] == 2.5);
  Tensor<double> c = std::move(a);
  CHECK(c[1] == 2.5);
  CHECK(c.vec().sum() == 2.5);
}

TEST_CASE("nn param: views into tensors") {
  Tensor<float> w(Shape{2, 2}), g(Shape{2, 2});
  effinfer::nn::Param<float> p{"dense/W", &w, &g};
  CHECK(p.decay);
  CHECK_FALSE(p.frozen);
  p.value->fill(3.0f);
  CHECK(w[3] == 3.0f);
}
