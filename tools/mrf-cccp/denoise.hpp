// Image denoising with a polynomial filter prior (spec mrf-cccp 2.6(c), 3.4 `denoise`, 3.6). With
// the image scaled to [0, 1], y the noisy image and sigma = noise_sigma / 255,
//
//   E(x) = sum_i (x_i - y_i)^2 / (2 sigma^2) + sum_t w_t sum_windows phi_t(k_t^T x_window),
//
// windows fully inside the image, phi_t a univariate even-degree polynomial with a positive
// leading coefficient. As a Model (app "denoise", variable r*W + c): one unary family "data"
// (m = 1, per-pixel coefficient rows on {1, x, x^2}) and one family "prior_<t>" per prior term
// (shared row w_t phi_t on {1, z, ..., z^d}, linmap = the row-major flattened kernel as a 1 x k
// map, so m = 1 and the split is one tiny SDP per term).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "model.hpp"
#include "poly.hpp"

namespace effinfer::mrf {

inline constexpr const char* kDenoiseDefaultImage =
    "/usr/lib/python3/dist-packages/skimage/data/camera.png";
inline constexpr const char* kDenoiseDataFamily = "data";
// Rng stream of the added noise (Rng(seed, stream)); fixed so `--seed` alone decides the draw.
inline constexpr uint64_t kDenoiseNoiseStream = 0x64656e6f697365ULL;  // "denoise"

// One prior term: w * sum over windows of phi(k^T x_window).
struct DenoisePrior {
  RowMatrixXd kernel;    // kh x kw, applied as a correlation (no flip)
  double weight = 4.0;   // w >= 0
  Eigen::VectorXd poly;  // phi in ascending powers: poly[j] multiplies z^j
};

// The spec 3.4 default prior: kernels [1, -1] and [1; -1], w = 4, phi = the literal fit of spec
// 2.6(c) (rounded fit_default_prior_poly()).
std::vector<DenoisePrior> default_denoise_prior();

struct DenoiseOptions {
  std::string image = kDenoiseDefaultImage;
  std::vector<int> crop;      // empty (whole image) or {row, col, h, w}
  double noise_sigma = 25.0;  // on the 0..255 scale
  std::vector<DenoisePrior> prior = default_denoise_prior();
};

// The spec 3.4 `denoise` defaults (equal to DenoiseOptions{}).
DenoiseOptions default_denoise_options();

// Checks the options that need no image (ConfigError, exit 78, naming the key): noise_sigma finite
// and > 0; crop empty or four entries with row, col >= 0 and h, w >= 1; at least one prior term;
// each kernel non-empty and finite, weight finite and >= 0, poly finite with an even degree and
// a positive leading coefficient (spec 3.6).
void validate_denoise_options(const DenoiseOptions& options);

// Reads options.image (InputError 66 when missing, with the hint "install python3-skimage" for the
// default path), crops (ConfigError when the crop leaves the image), scales to [0, 1] and adds
// N(0, sigma^2) noise per pixel in row-major order from Rng(seed, kDenoiseNoiseStream), not
// clipped; then builds the energy with denoise_model_from_images.
Model make_denoise_model(const DenoiseOptions& options, uint64_t seed);

// The energy of spec 2.6(c) for given clean and noisy images (same shape, H x W); x0 = noisy,
// truth = clean, meta = {H, W, observed = noisy, clean}. Validates the options; ConfigError when a
// kernel does not fit in the image, DataError when the images differ in shape, are empty or hold
// non-finite values.
Model denoise_model_from_images(const RowMatrixXd& clean, const RowMatrixXd& noisy,
                                const DenoiseOptions& options);

// PSNR = 10 log10(1 / MSE) against the clean image (both on [0, 1]); x is used as is, without
// clipping to [0, 1], so the metric is that of the energy's minimiser. DataError on a size
// mismatch; +inf when x equals the clean image.
double psnr(const Eigen::Ref<const Eigen::VectorXd>& x, const RowMatrixXd& clean);

// Least-squares fit of log(1 + z^2 / (2 * 0.2^2)) on 2001 equispaced points of [-1, 1] in the basis
// {z^2, z^4, z^6} (spec 2.6(c)), as ascending powers (length 7; odd and constant terms zero).
Eigen::VectorXd fit_default_prior_poly();

// Degree of a polynomial given by ascending coefficients (index of the last nonzero; -1 for the
// zero polynomial).
int poly_degree(const Eigen::Ref<const Eigen::VectorXd>& poly);

}  // namespace effinfer::mrf
