// Shape from shading (spec mrf-cccp 2.6(b)): surfaces, rendering, the two factor families, and
// the gauge-free depth metric.
#include "sfs.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/npy.hpp"

namespace effinfer::mrf {

namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// The terms of h = (1 + p^2 + q^2) a - (l1 p + l2 q + 1)^2, a = I^2, as (e_p, e_q, coefficient).
struct Term {
  int ep, eq;
  double c;
};

void inner_terms(double a, const Eigen::Vector3d& l, Term* t) {
  const double l1 = l[0], l2 = l[1];
  t[0] = {0, 0, a - 1};
  t[1] = {1, 0, -2 * l1};
  t[2] = {0, 1, -2 * l2};
  t[3] = {2, 0, a - l1 * l1};
  t[4] = {1, 1, -2 * l1 * l2};
  t[5] = {0, 2, a - l2 * l2};
}

}  // namespace

void validate_sfs_options(const SfsOptions& o) {
  if (o.source != "motorcycle" && o.source != "peaks")
    throw ConfigError("sfs.source: expected motorcycle or peaks, found '" + o.source + "'");
  if (o.downsample < 1)
    throw ConfigError("sfs.downsample: expected an integer >= 1, found " +
                      std::to_string(o.downsample));
  if (o.size < 3)
    throw ConfigError("sfs.size: expected an integer >= 3, found " + std::to_string(o.size));
  if (!std::isfinite(o.height_scale))
    throw ConfigError("sfs.height_scale: expected a finite number, found " + fmt(o.height_scale));
  if (!o.light.allFinite() || !(o.light[2] > 0))
    throw ConfigError("sfs.light: expected [l1, l2, l3] finite with l3 > 0, found [" +
                      fmt(o.light[0]) + ", " + fmt(o.light[1]) + ", " + fmt(o.light[2]) + "]");
  if (!std::isfinite(o.smooth_lambda) || o.smooth_lambda < 0)
    throw ConfigError("sfs.smooth_lambda: expected a finite number >= 0, found " +
                      fmt(o.smooth_lambda));
  if (!std::isfinite(o.init_noise) || o.init_noise < 0)
    throw ConfigError("sfs.init_noise: expected a finite number >= 0, found " + fmt(o.init_noise));
  if (!o.crop.empty()) {
    std::string found = "[";
    for (size_t i = 0; i < o.crop.size(); ++i) found += (i ? ", " : "") + std::to_string(o.crop[i]);
    found += "]";
    if (o.crop.size() != 4 || o.crop[0] < 0 || o.crop[1] < 0 || o.crop[2] < 2 || o.crop[3] < 2)
      throw ConfigError(
          "sfs.crop: expected null or [row, col, h, w] with row, col >= 0 and "
          "h, w >= 2, found " +
          found);
  }
}

Eigen::Vector3d sfs_rescaled_light(const Eigen::Vector3d& light) {
  if (!light.allFinite() || !(light[2] > 0))
    throw ConfigError("sfs.light: expected l3 > 0 and finite components");
  return light / light[2];
}

RowMatrixXd render_shading(const RowMatrixXd& depth, const Eigen::Vector3d& light) {
  const Eigen::Vector3d l = sfs_rescaled_light(light);
  const Eigen::Index H = depth.rows(), W = depth.cols();
  if (H < 2 || W < 2)
    throw DataError("render_shading: expected a depth map of at least 2 x 2, found " +
                    std::to_string(H) + " x " + std::to_string(W));
  RowMatrixXd shading(H - 1, W - 1);
  for (Eigen::Index i = 0; i + 1 < H; ++i)
    for (Eigen::Index j = 0; j + 1 < W; ++j) {
      const double p = depth(i, j) - depth(i + 1, j), q = depth(i, j) - depth(i, j + 1);
      shading(i, j) = std::max(0.0, l[0] * p + l[1] * q + 1) / std::sqrt(1 + p * p + q * q);
    }
  return shading;
}

void fill_invalid_nearest(RowMatrixXd& field, const MaskMatrix& valid) {
  const int H = static_cast<int>(field.rows()), W = static_cast<int>(field.cols());
  if (valid.rows() != H || valid.cols() != W)
    throw DataError("fill_invalid_nearest: mask shape does not match the field");
  if ((valid.array() != 0).count() == 0)
    throw DataError("fill_invalid_nearest: no valid entry to fill from");
  const RowMatrixXd source = field;  // fill from the original valid values only
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      if (valid(i, j)) continue;
      // Rings of Chebyshev radius r; every block beyond ring r is at squared distance >= (r+1)^2,
      // so the search ends once the best squared distance is below that (ties scanned on).
      int64_t best_d2 = std::numeric_limits<int64_t>::max(), best_idx = -1;
      for (int r = 1; r <= std::max(H, W); ++r) {
        for (int di = -r; di <= r; ++di) {
          const int ii = i + di;
          if (ii < 0 || ii >= H) continue;
          const bool edge_row = di == -r || di == r;
          for (int dj = -r; dj <= r; dj += edge_row ? 1 : 2 * r) {
            const int jj = j + dj;
            if (jj < 0 || jj >= W || !valid(ii, jj)) continue;
            const int64_t d2 = int64_t{di} * di + int64_t{dj} * dj;
            const int64_t idx = int64_t{ii} * W + jj;
            if (d2 < best_d2 || (d2 == best_d2 && idx < best_idx)) {
              best_d2 = d2;
              best_idx = idx;
            }
          }
        }
        if (best_idx >= 0 && best_d2 < int64_t{r + 1} * (r + 1)) break;
      }
      field(i, j) = source(best_idx / W, best_idx % W);
    }
}

RowMatrixXd motorcycle_height_field(const std::string& path, int downsample, double height_scale,
                                    MaskMatrix* valid) {
  if (downsample < 1)
    throw ConfigError("sfs.downsample: expected an integer >= 1, found " +
                      std::to_string(downsample));
  if (!std::filesystem::exists(path))
    throw InputError(path + ": motorcycle disparity not found (install python3-skimage)");
  io::RowMatrixXd disp;
  try {
    const auto npz = io::NpzArchive::open(path);
    const io::NpyArray arr = npz.read("arr_0");
    if (arr.dtype != "<f4" && arr.dtype != "<f8")
      throw DataError(arr.where + ": expected dtype <f4 or <f8, found " + arr.describe());
    disp = arr.matrix(true);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + " (install python3-skimage)");
  }
  const int H = static_cast<int>(disp.rows() / downsample);
  const int W = static_cast<int>(disp.cols() / downsample);
  if (H < 2 || W < 2)
    throw DataError(path + ": disparity of " + std::to_string(disp.rows()) + " x " +
                    std::to_string(disp.cols()) +
                    " gives a block grid smaller than 2 x 2 at "
                    "downsample " +
                    std::to_string(downsample));
  RowMatrixXd field = RowMatrixXd::Zero(H, W);
  MaskMatrix mask = MaskMatrix::Zero(H, W);
  for (int bi = 0; bi < H; ++bi)
    for (int bj = 0; bj < W; ++bj) {
      double sum = 0;
      int count = 0;
      for (int r = bi * downsample; r < (bi + 1) * downsample; ++r)
        for (int c = bj * downsample; c < (bj + 1) * downsample; ++c)
          if (std::isfinite(disp(r, c))) {
            sum += disp(r, c);
            ++count;
          }
      if (count > 0) {
        field(bi, bj) = height_scale * (sum / count) / downsample;
        mask(bi, bj) = 1;
      }
    }
  if ((mask.array() != 0).count() == 0)
    throw DataError(path + ":arr_0.npy: no finite disparity in any block");
  fill_invalid_nearest(field, mask);
  if (valid) *valid = std::move(mask);
  return field;
}

RowMatrixXd peaks_height_field(int n) {
  if (n < 2) throw ConfigError("sfs.size: expected an integer >= 3, found " + std::to_string(n));
  RowMatrixXd z(n, n);
  const double scale = n / 48.0;
  for (int i = 0; i < n; ++i) {
    const double y = -3.0 + 6.0 * i / (n - 1);
    for (int j = 0; j < n; ++j) {
      const double x = -3.0 + 6.0 * j / (n - 1);
      z(i, j) = scale * (3 * (1 - x) * (1 - x) * std::exp(-x * x - (y + 1) * (y + 1)) -
                         10 * (x / 5 - x * x * x - std::pow(y, 5)) * std::exp(-x * x - y * y) -
                         std::exp(-(x + 1) * (x + 1) - y * y) / 3);
    }
  }
  return z;
}

ExponentTable sfs_shading_exponents(const Eigen::Vector3d& light) {
  const Eigen::Vector3d l = sfs_rescaled_light(light);
  // Structural support of h (the I-dependent terms are taken as present).
  Term t[6];
  inner_terms(0.5, l, t);
  bool present[5][5] = {};
  for (const Term& a : t)
    for (const Term& b : t) {
      // The even terms 1, p^2, q^2 depend on I and count as present; odd ones follow the light.
      const bool a_on = a.c != 0 || (a.ep % 2 == 0 && a.eq % 2 == 0);
      const bool b_on = b.c != 0 || (b.ep % 2 == 0 && b.eq % 2 == 0);
      if (a_on && b_on) present[a.ep + b.ep][a.eq + b.eq] = true;
    }
  const ExponentTable all = monomials_up_to(2, 4);
  std::vector<int> rows;
  for (int r = 0; r < all.rows(); ++r)
    if (present[all(r, 0)][all(r, 1)]) rows.push_back(r);
  ExponentTable e(static_cast<Eigen::Index>(rows.size()), 2);
  for (size_t k = 0; k < rows.size(); ++k) e.row(static_cast<Eigen::Index>(k)) = all.row(rows[k]);
  return e;
}

void sfs_shading_coeffs(double intensity, const Eigen::Vector3d& light,
                        const ExponentTable& exponents, double* row) {
  const Eigen::Vector3d l = light / light[2];
  Term t[6];
  inner_terms(intensity * intensity, l, t);
  double sq[5][5] = {};
  for (const Term& a : t)
    for (const Term& b : t) sq[a.ep + b.ep][a.eq + b.eq] += a.c * b.c;
  for (Eigen::Index r = 0; r < exponents.rows(); ++r) {
    row[r] = sq[exponents(r, 0)][exponents(r, 1)];
    sq[exponents(r, 0)][exponents(r, 1)] = 0;
  }
  for (auto& line : sq)
    for (double v : line)
      if (v != 0)
        throw InternalError("sfs_shading_coeffs: exponent table misses a term of the factor");
}

Model make_sfs_model(const SfsOptions& options, uint64_t seed) {
  validate_sfs_options(options);
  const Eigen::Vector3d light = sfs_rescaled_light(options.light);
  MaskMatrix valid;
  RowMatrixXd depth;
  if (options.source == "motorcycle") {
    depth = motorcycle_height_field(options.motorcycle_path, options.downsample,
                                    options.height_scale, &valid);
  } else {
    depth = options.height_scale * peaks_height_field(options.size);
    valid = MaskMatrix::Ones(depth.rows(), depth.cols());
  }
  if (!options.crop.empty()) {
    const auto& c = options.crop;
    if (int64_t{c[0]} + c[2] > depth.rows() || int64_t{c[1]} + c[3] > depth.cols())
      throw ConfigError("sfs.crop: [" + std::to_string(c[0]) + ", " + std::to_string(c[1]) + ", " +
                        std::to_string(c[2]) + ", " + std::to_string(c[3]) + "] exceeds the " +
                        std::to_string(depth.rows()) + " x " + std::to_string(depth.cols()) +
                        " grid");
    depth = RowMatrixXd(depth.block(c[0], c[1], c[2], c[3]));
    valid = MaskMatrix(valid.block(c[0], c[1], c[2], c[3]));
  }
  const int H = static_cast<int>(depth.rows()), W = static_cast<int>(depth.cols());
  const RowMatrixXd shading = render_shading(depth, light);

  // Triangles in row-major (i, j) order; with mask_invalid only those on three valid blocks.
  std::vector<int> kept;
  kept.reserve(static_cast<size_t>(H - 1) * (W - 1));
  for (int i = 0; i + 1 < H; ++i)
    for (int j = 0; j + 1 < W; ++j)
      if (!options.mask_invalid || (valid(i, j) && valid(i + 1, j) && valid(i, j + 1)))
        kept.push_back(i * (W - 1) + j);
  if (kept.empty())
    throw DataError("sfs: no triangle left on the " + std::to_string(H) + " x " +
                    std::to_string(W) + " grid after masking invalid blocks");
  const auto F = static_cast<Eigen::Index>(kept.size());
  VarTable vars(F, 3);
  for (Eigen::Index r = 0; r < F; ++r) {
    const int i = kept[r] / (W - 1), j = kept[r] % (W - 1);
    vars(r, 0) = int64_t{i} * W + j;
    vars(r, 1) = int64_t{i + 1} * W + j;
    vars(r, 2) = int64_t{i} * W + j + 1;
  }

  Model model;
  model.app = "sfs";
  model.num_vars = int64_t{H} * W;

  FactorFamily shade;
  shade.name = kSfsShadingFamily;
  shade.vars = vars;
  shade.exponents = sfs_shading_exponents(light);
  shade.coeffs.resize(F, shade.exponents.rows());
  for (Eigen::Index r = 0; r < F; ++r)
    sfs_shading_coeffs(shading(kept[r] / (W - 1), kept[r] % (W - 1)), light, shade.exponents,
                       shade.coeffs.row(r).data());
  shade.linmap.resize(2, 3);
  shade.linmap << 1, -1, 0, 1, 0, -1;
  model.families.push_back(std::move(shade));

  if (options.smooth_lambda > 0) {
    FactorFamily smooth;
    smooth.name = kSfsSmoothFamily;
    smooth.vars = std::move(vars);
    smooth.exponents = ExponentTable::Constant(1, 1, 2);
    smooth.coeffs = RowMatrixXd::Constant(1, 1, options.smooth_lambda);
    smooth.linmap.resize(1, 3);
    smooth.linmap << 1, -2, 1;
    model.families.push_back(std::move(smooth));
  }

  model.truth = Eigen::Map<const Eigen::VectorXd>(depth.data(), depth.size());
  model.x0 = model.truth;
  Rng rng(seed, kSfsInitStream);
  for (Eigen::Index v = 0; v < model.x0.size(); ++v)
    model.x0[v] += options.init_noise * rng.uniform();

  model.meta.height = H;
  model.meta.width = W;
  model.meta.observed = shading;
  model.meta.shading = shading;
  model.meta.valid = std::move(valid);
  model.meta.light = light;
  return model;
}

namespace {

// Mean of x - truth over valid pixels (the gauge z -> z + c, spec 2.6(b)).
double gauge_offset(const Model& model, const Eigen::Ref<const Eigen::VectorXd>& x,
                    int64_t* count) {
  const int64_t V = model.num_vars;
  if (model.truth.size() != V || x.size() != V)
    throw DataError("sfs depth metric: expected truth and x of length " + std::to_string(V) +
                    ", found " + std::to_string(model.truth.size()) + " and " +
                    std::to_string(x.size()));
  if (model.meta.height * model.meta.width != V)
    throw DataError("sfs depth metric: /meta/shape does not match num_vars");
  const bool all = model.meta.valid.size() == 0;
  if (!all && model.meta.valid.size() != V)
    throw DataError("sfs depth metric: /meta/valid is not H x W");
  double sum = 0;
  int64_t n = 0;
  for (int64_t v = 0; v < V; ++v)
    if (all || model.meta.valid.data()[v]) {
      sum += x[v] - model.truth[v];
      ++n;
    }
  if (n == 0) throw DataError("sfs depth metric: no valid pixel");
  *count = n;
  return sum / static_cast<double>(n);
}

}  // namespace

double sfs_depth_rmse(const Model& model, const Eigen::Ref<const Eigen::VectorXd>& x) {
  int64_t n = 0;
  const double offset = gauge_offset(model, x, &n);
  const bool all = model.meta.valid.size() == 0;
  double ss = 0;
  for (int64_t v = 0; v < model.num_vars; ++v)
    if (all || model.meta.valid.data()[v]) {
      const double d = x[v] - model.truth[v] - offset;
      ss += d * d;
    }
  return std::sqrt(ss / static_cast<double>(n));
}

RowMatrixXd gauge_aligned_depth(const Model& model, const Eigen::Ref<const Eigen::VectorXd>& x) {
  int64_t n = 0;
  const double offset = gauge_offset(model, x, &n);
  RowMatrixXd depth(model.meta.height, model.meta.width);
  Eigen::Map<Eigen::VectorXd>(depth.data(), depth.size()) = x.array() - offset;
  return depth;
}

}  // namespace effinfer::mrf
