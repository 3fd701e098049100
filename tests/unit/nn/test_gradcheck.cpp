// The gradient checker itself: it accepts a correct backward and rejects wrong input or
// parameter gradients.
#include <doctest/doctest.h>

#include "core/rng.hpp"
#include "nn/gradcheck.hpp"
#include "test_support.hpp"

using namespace effinfer::nn;

namespace {

// y = a * x^2 elementwise with one scalar parameter a; `input_error` and `param_error` scale
// the analytic gradients to inject bugs.
class Square : public Layer<double> {
 public:
  double input_error = 1, param_error = 1;
  Tensor<double> a{Shape{1}}, da{Shape{1}};
  Tensor<double> x_;
  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor<double>& x, Tensor<double>& y, Pass& pass) override {
    y.resize(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y[i] = a[0] * x[i] * x[i];
    if (pass.training) x_ = x;
  }
  void backward(const Tensor<double>& dy, Tensor<double>* dx, Pass&) override {
    for (int64_t i = 0; i < dy.size(); ++i) da[0] += param_error * dy[i] * x_[i] * x_[i];
    if (!dx) return;
    dx->resize(x_.shape());
    for (int64_t i = 0; i < dy.size(); ++i) (*dx)[i] = input_error * 2 * a[0] * x_[i] * dy[i];
  }
  std::vector<Param<double>> params() override { return {{"a", &a, &da}}; }
  std::string name() const override { return "square"; }
};

Tensor<double> random_input(Shape s, uint64_t seed) {
  Tensor<double> x(s);
  effinfer::Rng rng(seed);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
  return x;
}

}  // namespace

TEST_CASE("nn grad_check: accepts a correct backward, rejects wrong gradients") {
  Pass pass;
  pass.training = true;
  const Tensor<double> x = random_input(Shape{3, 4}, 5);
  Square layer;
  layer.a[0] = 1.3;
  GradCheckResult ok = grad_check(layer, x, pass);
  CHECK(ok.checked == 13);
  CHECK(ok.max_rel_error < 1e-6);

  layer.input_error = 1.01;  // 1 % error in dL/dx
  GradCheckResult bad_x = grad_check(layer, x, pass);
  CHECK(bad_x.max_rel_error > 1e-4);
  CHECK(bad_x.worst.rfind("x[", 0) == 0);

  layer.input_error = 1;
  layer.param_error = 1.01;  // 1 % error in dL/da
  GradCheckResult bad_a = grad_check(layer, x, pass);
  CHECK(bad_a.max_rel_error > 1e-4);
  CHECK(bad_a.worst == "a[0]");
}
