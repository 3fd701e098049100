#include "lt_dataset.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/digits.hpp"
#include "io/idx.hpp"

namespace effinfer::climbq {
namespace {

void shuffle(std::vector<int64_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.uniform_int(i)]);
}

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};

// Source pools: the training pool (cut to long-tailed counts + val) and the test split.
struct Pools {
  io::LabeledImages pool, test;
};

void append(ImageSplit& split, const io::LabeledImages& from, int64_t index) {
  const size_t s = from.sample_size();
  split.x.insert(split.x.end(), from.pixels.begin() + static_cast<int64_t>(s) * index,
                 from.pixels.begin() + static_cast<int64_t>(s) * (index + 1));
  split.y.push_back(from.labels[static_cast<size_t>(index)]);
  split.source_index.push_back(index);
}

// scikit-learn digits: per class a seeded permutation puts floor(n_c/2) in the train pool and the
// rest in the test split (spec 4).
Pools digits_pools(const std::string& path, uint64_t seed) {
  const io::LabeledImages all = io::read_digits(path);
  Pools p;
  for (io::LabeledImages* s : {&p.pool, &p.test}) {
    s->h = all.h, s->w = all.w, s->c = all.c, s->classes = all.classes;
  }
  for (int c = 0; c < all.classes; ++c) {
    std::vector<int64_t> idx;
    for (size_t i = 0; i < all.n; ++i)
      if (all.labels[i] == c) idx.push_back(static_cast<int64_t>(i));
    Rng rng(seed, named_stream("digits_pool", static_cast<uint64_t>(c)));
    shuffle(idx, rng);
    const size_t half = idx.size() / 2;
    std::sort(idx.begin(), idx.begin() + static_cast<int64_t>(half));
    std::sort(idx.begin() + static_cast<int64_t>(half), idx.end());
    for (size_t k = 0; k < idx.size(); ++k) {
      io::LabeledImages& dst = k < half ? p.pool : p.test;
      const size_t s = all.sample_size();
      dst.pixels.insert(dst.pixels.end(), all.pixels.begin() + static_cast<int64_t>(s) * idx[k],
                        all.pixels.begin() + static_cast<int64_t>(s) * (idx[k] + 1));
      dst.labels.push_back(c);
      ++dst.n;
    }
  }
  return p;
}

// Synthetic Gaussian classes (spec 4): means r u_c (u_c seeded random unit vectors), class std by
// rank, pixels p = clamp(round(128 + 16 x), 0, 255) stored as 8 x 8 x 1 (d = 64).
io::LabeledImages synth_samples(const SynthOptions& o, const std::vector<int32_t>& label_at_rank,
                                const std::vector<int64_t>& per_label, uint64_t seed,
                                const std::string& stream, const std::vector<double>& std_of_label,
                                const std::vector<Eigen::VectorXd>& mean_of_label) {
  io::LabeledImages s;
  s.h = 8, s.w = 8, s.c = 1, s.classes = o.classes;
  (void)label_at_rank;
  for (int c = 0; c < o.classes; ++c) {
    Rng rng(seed, named_stream(stream, static_cast<uint64_t>(c)));
    for (int64_t k = 0; k < per_label[static_cast<size_t>(c)]; ++k) {
      for (int d = 0; d < o.dim; ++d) {
        const double x = mean_of_label[static_cast<size_t>(c)][d] +
                         std_of_label[static_cast<size_t>(c)] * rng.normal();
        s.pixels.push_back(
            static_cast<uint8_t>(std::clamp(std::nearbyint(128 + 16 * x), 0.0, 255.0)));
      }
      s.labels.push_back(c);
      ++s.n;
    }
  }
  return s;
}

}  // namespace

Dataset build_dataset(const DataOptions& o, uint64_t seed) {
  Dataset d;
  d.source = o.source;
  d.seed = seed;
  int src = -1;
  if (o.source == "fashion-mnist") src = 0;
  if (o.source == "digits") src = 1;
  if (o.source == "synth") src = 2;
  if (src < 0)
    throw ConfigError("data.source: expected fashion-mnist, digits or synth, found '" + o.source +
                      "'");
  const double auto_rho[] = {100, 10, 10};
  const int64_t auto_n_max[] = {5000, 87, 500}, auto_val[] = {200, 0, 50};
  d.rho = (o.rho < 0 || std::isnan(o.rho)) ? auto_rho[src] : o.rho;
  d.n_max = o.n_max < 0 ? auto_n_max[src] : o.n_max;
  d.val_per_class = o.val_per_class < 0 ? auto_val[src] : o.val_per_class;
  d.count_rule = o.count_rule == CountRule::kClosed ? "closed" : "iterative";
  d.class_order_name = o.class_order == ClassOrder::kNatural   ? "natural"
                       : o.class_order == ClassOrder::kReverse ? "reverse"
                                                               : "shuffle";
  const int C = src == 2 ? o.synth.classes : 10;
  if (src == 2 && (o.synth.dim != 64))
    throw ConfigError("synth.dim: expected 64 (stored as 8 x 8 x 1 images), found " +
                      std::to_string(o.synth.dim));
  d.classes = C;
  const std::vector<int64_t> by_rank = long_tail_counts(C, d.n_max, d.rho, o.count_rule);
  const std::vector<int> order = class_order(C, o.class_order, seed);
  d.class_order.assign(order.begin(), order.end());
  std::vector<int64_t> want(static_cast<size_t>(C));
  for (int i = 0; i < C; ++i) want[static_cast<size_t>(order[i])] = by_rank[i];

  Pools pools;
  if (src == 0) {
    pools.pool = io::read_fashion_mnist(true, o.fmnist_dir);
    pools.test = io::read_fashion_mnist(false, o.fmnist_dir);
    d.class_names = kFashionNames;
    d.pixel_scale = 1.0 / 255, d.norm_mean = 0.2860, d.norm_std = 0.3530;
  } else if (src == 1) {
    pools = digits_pools(o.digits_file, seed);
    for (int c = 0; c < C; ++c) d.class_names.push_back(std::to_string(c));
    d.pixel_scale = 1.0 / 16, d.norm_mean = 0.3, d.norm_std = 0.45;
  } else {
    const SynthOptions& s = o.synth;
    if (!(s.std_min > 0 && s.std_max >= s.std_min && s.radius >= 0 && s.test_per_class >= 1))
      throw ConfigError("synth: expected 0 < std_min <= std_max, radius >= 0, test_per_class >= 1");
    std::vector<double> std_of_label(static_cast<size_t>(C));
    std::vector<int> rank_order(static_cast<size_t>(C));
    std::iota(rank_order.begin(), rank_order.end(), 0);  // rank i gets the i-th std
    if (s.std_order == "decreasing")
      std::reverse(rank_order.begin(), rank_order.end());
    else if (s.std_order == "shuffle") {
      Rng rng(seed, named_stream("synth_std"));
      for (int i = C - 1; i > 0; --i)
        std::swap(rank_order[i], rank_order[rng.uniform_int(static_cast<uint64_t>(i) + 1)]);
    } else if (s.std_order != "increasing")
      throw ConfigError("synth.std_order: expected increasing, decreasing or shuffle, found '" +
                        s.std_order + "'");
    for (int i = 0; i < C; ++i)
      std_of_label[static_cast<size_t>(order[i])] =
          s.std_min * std::pow(s.std_max / s.std_min, rank_order[i] / double(C - 1));
    std::vector<Eigen::VectorXd> mean_of_label(static_cast<size_t>(C));
    Rng mrng(seed, named_stream("synth_means"));
    for (int c = 0; c < C; ++c) {
      Eigen::VectorXd u(s.dim);
      for (int k = 0; k < s.dim; ++k) u[k] = mrng.normal();
      mean_of_label[static_cast<size_t>(c)] = s.radius * u / u.norm();
    }
    std::vector<int64_t> pool_n(static_cast<size_t>(C)),
        test_n(static_cast<size_t>(C), s.test_per_class);
    for (int c = 0; c < C; ++c)
      pool_n[static_cast<size_t>(c)] = want[static_cast<size_t>(c)] + d.val_per_class;
    pools.pool =
        synth_samples(s, d.class_order, pool_n, seed, "synth_train", std_of_label, mean_of_label);
    pools.test =
        synth_samples(s, d.class_order, test_n, seed, "synth_test", std_of_label, mean_of_label);
    for (int c = 0; c < C; ++c) d.class_names.push_back("c" + std::to_string(c));
    d.pixel_scale = 1.0 / 16, d.norm_mean = 8, d.norm_std = 1;
  }
  d.height = static_cast<int64_t>(pools.pool.h);
  d.width = static_cast<int64_t>(pools.pool.w);
  d.channels = static_cast<int64_t>(pools.pool.c);

  // Per class a seeded permutation of its pool: the first n_i train images, then val_per_class
  // validation images (spec 2.7); the test split stays balanced and untouched.
  d.class_counts.assign(static_cast<size_t>(C), 0);
  for (int c = 0; c < C; ++c) {
    std::vector<int64_t> idx;
    for (size_t i = 0; i < pools.pool.n; ++i)
      if (pools.pool.labels[i] == c) idx.push_back(static_cast<int64_t>(i));
    int64_t n = want[static_cast<size_t>(c)];
    const int64_t avail = static_cast<int64_t>(idx.size()) - d.val_per_class;
    if (n > avail) {
      if (!o.allow_clamp)
        throw ConfigError("data.n_max: class " + std::to_string(c) + " needs " + std::to_string(n) +
                          " train + " + std::to_string(d.val_per_class) +
                          " val images, its pool has " + std::to_string(idx.size()) +
                          " (lower n_max or val_per_class, or set data.allow_clamp)");
      d.warnings.push_back("class " + std::to_string(c) + ": train count clamped from " +
                           std::to_string(n) + " to " +
                           std::to_string(std::max<int64_t>(avail, 0)));
      n = std::max<int64_t>(avail, 0);
    }
    Rng rng(seed, named_stream("data", static_cast<uint64_t>(c)));
    shuffle(idx, rng);
    for (int64_t k = 0; k < n; ++k) append(d.train, pools.pool, idx[static_cast<size_t>(k)]);
    for (int64_t k = n; k < n + d.val_per_class; ++k)
      append(d.val, pools.pool, idx[static_cast<size_t>(k)]);
    d.class_counts[static_cast<size_t>(c)] = n;
  }
  for (size_t i = 0; i < pools.test.n; ++i) append(d.test, pools.test, static_cast<int64_t>(i));
  if (src == 2)  // generated images have no source pool index
    for (ImageSplit* s : {&d.train, &d.val, &d.test})
      std::fill(s->source_index.begin(), s->source_index.end(), -1);
  return d;
}

void write_dataset(io::H5File& f, const Dataset& d) {
  f.set_attribute("/", "content", "data");
  f.set_attribute("/", "source", d.source);
  f.set_attribute("/", "num_classes", static_cast<int64_t>(d.classes));
  f.set_attribute("/", "rho", d.rho);
  f.set_attribute("/", "n_max", d.n_max);
  f.set_attribute("/", "count_rule", d.count_rule);
  f.set_attribute("/", "class_order", d.class_order_name);
  f.set_attribute("/", "seed", static_cast<int64_t>(d.seed));
  f.set_attribute("/", "pixel_scale", d.pixel_scale);
  f.set_attribute("/", "norm_mean", d.norm_mean);
  f.set_attribute("/", "norm_std", d.norm_std);
  f.set_attribute("/", "val_per_class", d.val_per_class);
  f.create_group("/data");
  auto split = [&](const std::string& name, const ImageSplit& s) {
    const std::string g = "/data/" + name;
    f.create_group(g);
    f.write_uint8(g + "/x", s.x,
                  {static_cast<hsize_t>(s.size()), static_cast<hsize_t>(d.height),
                   static_cast<hsize_t>(d.width), static_cast<hsize_t>(d.channels)});
    f.set_units(g + "/x", "pixel value (uint8)");
    f.write_int32(g + "/y", s.y);
    f.set_units(g + "/y", "label");
    f.write_int64(g + "/source_index", s.source_index);
    f.set_units(g + "/source_index", "index in the source pool (-1: generated)");
  };
  split("train", d.train);
  split("val", d.val);
  split("test", d.test);
  f.write_int64("/data/class_counts", d.class_counts);
  f.set_units("/data/class_counts", "images");
  f.write_strings("/data/class_names", d.class_names);
  f.write_int32("/data/class_order", d.class_order);
  f.set_units("/data/class_order", "label at rank i");
}

Dataset read_dataset(const std::string& path) {
  const io::H5File f = io::H5File::open(path);
  auto fail = [&](const std::string& where, const std::string& what) -> void {
    throw DataError(path + ":" + where + ": " + what);
  };
  if (!f.has_attribute("/", "effinfer_schema") ||
      f.read_attribute_string("/", "effinfer_schema") != kSchema ||
      !f.has_attribute("/", "content") || f.read_attribute_string("/", "content") != "data")
    fail("/", std::string("expected a quantize-climbq data file (effinfer_schema ") + kSchema +
                  ", content data; make one with `quantize-climbq make-data`)");
  Dataset d;
  d.source = f.read_attribute_string("/", "source");
  d.classes = static_cast<int>(f.read_attribute_int("/", "num_classes"));
  d.rho = f.read_attribute_double("/", "rho");
  d.n_max = f.read_attribute_int("/", "n_max");
  d.count_rule = f.read_attribute_string("/", "count_rule");
  d.class_order_name = f.read_attribute_string("/", "class_order");
  d.seed = static_cast<uint64_t>(f.read_attribute_int("/", "seed"));
  d.pixel_scale = f.read_attribute_double("/", "pixel_scale");
  d.norm_mean = f.read_attribute_double("/", "norm_mean");
  d.norm_std = f.read_attribute_double("/", "norm_std");
  if (d.classes < 2) fail("/ (attr num_classes)", "expected >= 2");
  if (!(d.norm_std > 0) || !std::isfinite(d.pixel_scale) || !std::isfinite(d.norm_mean))
    fail("/ (attrs pixel_scale, norm_mean, norm_std)", "expected finite values, norm_std > 0");
  auto split = [&](const std::string& name, ImageSplit& s) {
    const std::string g = "/data/" + name;
    const auto info = f.info(g + "/x");
    if (info.shape.size() != 4 ||
        (info.element != io::ElementClass::kInteger && info.element != io::ElementClass::kFloat))
      fail(g + "/x", "expected uint8 (N, H, W, C) of rank 4, found " + info.describe());
    const auto n = static_cast<int64_t>(info.shape[0]);
    if (d.height == 0) {
      d.height = static_cast<int64_t>(info.shape[1]);
      d.width = static_cast<int64_t>(info.shape[2]);
      d.channels = static_cast<int64_t>(info.shape[3]);
    } else if (static_cast<int64_t>(info.shape[1]) != d.height ||
               static_cast<int64_t>(info.shape[2]) != d.width ||
               static_cast<int64_t>(info.shape[3]) != d.channels) {
      fail(g + "/x", "image shape differs from /data/train/x");
    }
    s.x.resize(static_cast<size_t>(n * d.height * d.width * d.channels));
    if (info.element == io::ElementClass::kFloat) {
      // float32 pixels are accepted when they are the integers 0..255 (spec 3.5).
      std::vector<float> v(s.x.size());
      f.read_raw(g + "/x", H5T_NATIVE_FLOAT, v.data(), v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        if (!std::isfinite(v[i]))
          fail(g + "/x", "non-finite pixel at flat index " + std::to_string(i));
        if (v[i] < 0 || v[i] > 255 || v[i] != std::floor(v[i]))
          fail(g + "/x", "float pixels must be integers in 0..255; found " + std::to_string(v[i]) +
                             " at flat index " + std::to_string(i));
        s.x[i] = static_cast<uint8_t>(v[i]);
      }
    } else {
      f.read_raw(g + "/x", H5T_NATIVE_UINT8, s.x.data(), s.x.size());
    }
    const auto yinfo = f.info(g + "/y");
    if (yinfo.shape.size() != 1 || yinfo.element != io::ElementClass::kInteger)
      fail(g + "/y", "expected int32 (N,), found " + yinfo.describe());
    const auto y = f.read_int_vector(g + "/y");
    if (static_cast<int64_t>(y.size()) != n)
      fail(g + "/y",
           "expected " + std::to_string(n) + " labels, found " + std::to_string(y.size()));
    for (size_t i = 0; i < y.size(); ++i)
      if (y[i] < 0 || y[i] >= d.classes)
        fail(g + "/y", "label " + std::to_string(y[i]) + " at " + std::to_string(i) +
                           " outside [0, " + std::to_string(d.classes) + ")");
    s.y.assign(y.begin(), y.end());
    if (f.exists(g + "/source_index")) s.source_index = f.read_int_vector(g + "/source_index");
  };
  split("train", d.train);
  split("val", d.val);
  split("test", d.test);
  d.class_counts = f.read_int_vector("/data/class_counts");
  std::vector<int64_t> hist(static_cast<size_t>(d.classes), 0);
  for (int32_t y : d.train.y) ++hist[static_cast<size_t>(y)];
  if (d.class_counts != hist) fail("/data/class_counts", "expected the histogram of /data/train/y");
  d.class_names = f.read_strings("/data/class_names");
  const auto order = f.read_int_vector("/data/class_order");
  d.class_order.assign(order.begin(), order.end());
  return d;
}

}  // namespace effinfer::climbq
