#include "denoise.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/png.hpp"

namespace effinfer::mrf {

namespace {

std::string prior_key(size_t t, const char* field) {
  return "denoise.prior[" + std::to_string(t) + "]." + field;
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

bool all_finite(const double* v, Eigen::Index n) {
  for (Eigen::Index i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

}  // namespace

int poly_degree(const Eigen::Ref<const Eigen::VectorXd>& poly) {
  for (Eigen::Index j = poly.size() - 1; j >= 0; --j)
    if (poly[j] != 0.0) return static_cast<int>(j);
  return -1;
}

Eigen::VectorXd fit_default_prior_poly() {
  // Spec 2.6(c): a polynomial stand-in for the Lorentzian expert log(1 + z^2 / (2 s^2)), s = 0.2.
  constexpr int kPoints = 2001;
  constexpr double kScale = 0.2;
  Eigen::MatrixXd A(kPoints, 3);
  Eigen::VectorXd b(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    const double z = -1.0 + 2.0 * i / (kPoints - 1);
    const double z2 = z * z;
    A(i, 0) = z2;
    A(i, 1) = z2 * z2;
    A(i, 2) = z2 * z2 * z2;
    b[i] = std::log1p(z2 / (2.0 * kScale * kScale));
  }
  // Column-pivoting QR: the 3-column problem is well conditioned enough (cond ~ 1e2).
  const Eigen::Vector3d c = A.colPivHouseholderQr().solve(b);
  Eigen::VectorXd poly = Eigen::VectorXd::Zero(7);
  poly[2] = c[0];
  poly[4] = c[1];
  poly[6] = c[2];
  return poly;
}

std::vector<DenoisePrior> default_denoise_prior() {
  // The literal of spec 3.4 (rounded fit_default_prior_poly(); the test checks they agree).
  Eigen::VectorXd poly(7);
  poly << 0, 0, 8.26888935, 0, -11.3881391, 0, 5.86945817;
  DenoisePrior horizontal, vertical;
  horizontal.kernel.resize(1, 2);
  horizontal.kernel << 1, -1;
  vertical.kernel.resize(2, 1);
  vertical.kernel << 1, -1;
  horizontal.weight = vertical.weight = 4.0;
  horizontal.poly = vertical.poly = poly;
  return {horizontal, vertical};
}

DenoiseOptions default_denoise_options() { return DenoiseOptions{}; }

void validate_denoise_options(const DenoiseOptions& o) {
  if (o.image.empty())
    throw ConfigError("denoise.image: expected a PNG path, found an empty string");
  if (!std::isfinite(o.noise_sigma) || o.noise_sigma <= 0)
    throw ConfigError("denoise.noise_sigma: expected a finite value > 0, found " +
                      num(o.noise_sigma));
  if (!o.crop.empty()) {
    if (o.crop.size() != 4)
      throw ConfigError("denoise.crop: expected null or [row, col, h, w], found " +
                        std::to_string(o.crop.size()) + " entries");
    if (o.crop[0] < 0 || o.crop[1] < 0 || o.crop[2] < 1 || o.crop[3] < 1)
      throw ConfigError("denoise.crop: expected row, col >= 0 and h, w >= 1, found [" +
                        std::to_string(o.crop[0]) + ", " + std::to_string(o.crop[1]) + ", " +
                        std::to_string(o.crop[2]) + ", " + std::to_string(o.crop[3]) + "]");
  }
  if (o.prior.empty()) throw ConfigError("denoise.prior: expected at least one term, found none");
  for (size_t t = 0; t < o.prior.size(); ++t) {
    const DenoisePrior& p = o.prior[t];
    if (p.kernel.size() == 0)
      throw ConfigError(prior_key(t, "kernel") +
                        ": expected a non-empty matrix, found an empty one");
    if (!all_finite(p.kernel.data(), p.kernel.size()))
      throw ConfigError(prior_key(t, "kernel") + ": expected finite values, found NaN or Inf");
    if (!std::isfinite(p.weight) || p.weight < 0)
      throw ConfigError(prior_key(t, "weight") + ": expected a finite value >= 0, found " +
                        num(p.weight));
    if (p.poly.size() == 0)
      throw ConfigError(prior_key(t, "poly") + ": expected ascending coefficients, found none");
    if (!all_finite(p.poly.data(), p.poly.size()))
      throw ConfigError(prior_key(t, "poly") + ": expected finite coefficients, found NaN or Inf");
    // Spec 3.6: an odd degree or a non-positive leading coefficient leaves E unbounded below.
    const int d = poly_degree(p.poly);
    const std::string expected =
        ": expected an even-degree polynomial with positive leading coefficient, found ";
    if (d < 0) throw ConfigError(prior_key(t, "poly") + expected + "the zero polynomial");
    if (d % 2 != 0)
      throw ConfigError(prior_key(t, "poly") + expected + "degree " + std::to_string(d));
    if (p.poly[d] <= 0)
      throw ConfigError(prior_key(t, "poly") + expected + "leading coefficient " + num(p.poly[d]) +
                        " (degree " + std::to_string(d) + ")");
  }
}

Model denoise_model_from_images(const RowMatrixXd& clean, const RowMatrixXd& noisy,
                                const DenoiseOptions& o) {
  validate_denoise_options(o);
  const Eigen::Index H = noisy.rows(), W = noisy.cols();
  if (H == 0 || W == 0) throw DataError("denoise: the noisy image is empty");
  if (clean.rows() != H || clean.cols() != W)
    throw DataError("denoise: clean image is " + std::to_string(clean.rows()) + "x" +
                    std::to_string(clean.cols()) + ", expected the noisy image's " +
                    std::to_string(H) + "x" + std::to_string(W));
  if (!all_finite(noisy.data(), noisy.size()) || !all_finite(clean.data(), clean.size()))
    throw DataError("denoise: expected finite pixel values, found NaN or Inf");

  Model m;
  m.app = "denoise";
  m.num_vars = static_cast<int64_t>(H * W);

  // Data term (x - y)^2 / (2 sigma^2) = y^2/(2 s^2) - (y/s^2) x + x^2/(2 s^2) on {1, x, x^2}; one
  // row per pixel. Exact quadratic: the decomposition puts it whole into the convex part.
  const double sigma = o.noise_sigma / 255.0;
  const double inv2s2 = 1.0 / (2.0 * sigma * sigma);
  FactorFamily data;
  data.name = kDenoiseDataFamily;
  data.exponents = monomials_up_to(1, 2);
  data.vars.resize(m.num_vars, 1);
  data.coeffs.resize(m.num_vars, 3);
  for (int64_t i = 0; i < m.num_vars; ++i) {
    const double y = noisy.data()[i];
    data.vars(i, 0) = i;
    data.coeffs(i, 0) = y * y * inv2s2;
    data.coeffs(i, 1) = -2.0 * y * inv2s2;
    data.coeffs(i, 2) = inv2s2;
  }
  m.families.push_back(std::move(data));

  // Prior terms: u = k^T x_window (one local variable), g(u) = w phi(u), windows fully inside.
  for (size_t t = 0; t < o.prior.size(); ++t) {
    const DenoisePrior& p = o.prior[t];
    const Eigen::Index kh = p.kernel.rows(), kw = p.kernel.cols();
    if (kh > H || kw > W)
      throw ConfigError(prior_key(t, "kernel") + ": expected at most the image size " +
                        std::to_string(H) + "x" + std::to_string(W) + ", found " +
                        std::to_string(kh) + "x" + std::to_string(kw));
    const int d = poly_degree(p.poly);
    FactorFamily f;
    f.name = "prior_" + std::to_string(t);
    f.exponents = monomials_up_to(1, d);
    f.coeffs = p.weight * p.poly.head(d + 1).transpose();
    f.linmap = Eigen::Map<const Eigen::RowVectorXd>(p.kernel.data(), kh * kw);  // row-major
    const Eigen::Index rows = H - kh + 1, cols = W - kw + 1;
    f.vars.resize(rows * cols, kh * kw);
    for (Eigen::Index r = 0; r < rows; ++r)
      for (Eigen::Index c = 0; c < cols; ++c) {
        const Eigen::Index row = r * cols + c;
        for (Eigen::Index a = 0; a < kh; ++a)
          for (Eigen::Index b = 0; b < kw; ++b) f.vars(row, a * kw + b) = (r + a) * W + (c + b);
      }
    m.families.push_back(std::move(f));
  }

  m.x0 = Eigen::Map<const Eigen::VectorXd>(noisy.data(), noisy.size());
  m.truth = Eigen::Map<const Eigen::VectorXd>(clean.data(), clean.size());
  m.meta.height = H;
  m.meta.width = W;
  m.meta.observed = noisy;
  m.meta.clean = clean;
  return m;
}

Model make_denoise_model(const DenoiseOptions& o, uint64_t seed) {
  validate_denoise_options(o);
  if (!std::filesystem::exists(o.image)) {
    std::string message = "denoise.image: file not found: " + o.image;
    if (o.image == kDenoiseDefaultImage)
      message += " (the default image ships with scikit-image: install python3-skimage)";
    throw InputError(message);
  }
  const io::GrayImage image = io::read_png_gray(o.image);
  RowMatrixXd clean = image.gray;
  if (!o.crop.empty()) {
    const int r = o.crop[0], c = o.crop[1], h = o.crop[2], w = o.crop[3];
    if (static_cast<int64_t>(r) + h > image.height() || static_cast<int64_t>(c) + w > image.width())
      throw ConfigError("denoise.crop: [" + std::to_string(r) + ", " + std::to_string(c) + ", " +
                        std::to_string(h) + ", " + std::to_string(w) + "] lies outside the " +
                        std::to_string(image.height()) + "x" + std::to_string(image.width()) +
                        " image " + o.image);
    clean = image.gray.block(r, c, h, w);
  }
  // Additive Gaussian noise on the [0, 1] scale, row-major, not clipped (spec 2.6(c)).
  const double sigma = o.noise_sigma / 255.0;
  Rng rng(seed, kDenoiseNoiseStream);
  RowMatrixXd noisy(clean.rows(), clean.cols());
  for (Eigen::Index i = 0; i < clean.size(); ++i)
    noisy.data()[i] = clean.data()[i] + sigma * rng.normal();
  return denoise_model_from_images(clean, noisy, o);
}

double psnr(const Eigen::Ref<const Eigen::VectorXd>& x, const RowMatrixXd& clean) {
  if (x.size() != clean.size() || clean.size() == 0)
    throw DataError("psnr: x has " + std::to_string(x.size()) + " values, expected the clean " +
                    "image's " + std::to_string(clean.size()));
  // No clipping of x to [0, 1]: the metric is that of the energy minimiser itself.
  const double mse =
      (x - Eigen::Map<const Eigen::VectorXd>(clean.data(), clean.size())).squaredNorm() /
      static_cast<double>(clean.size());
  return 10.0 * std::log10(1.0 / mse);
}

}  // namespace effinfer::mrf
