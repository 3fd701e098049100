#include "lt_data.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace effinfer::climbq {

CountRule parse_count_rule(const std::string& name) {
  if (name == "closed") return CountRule::kClosed;
  if (name == "iterative") return CountRule::kIterative;
  throw ConfigError("data.count_rule: expected closed or iterative, found '" + name + "'");
}

ClassOrder parse_class_order(const std::string& name) {
  if (name == "natural") return ClassOrder::kNatural;
  if (name == "reverse") return ClassOrder::kReverse;
  if (name == "shuffle") return ClassOrder::kShuffle;
  throw ConfigError("data.class_order: expected natural, reverse or shuffle, found '" + name + "'");
}

std::vector<int64_t> long_tail_counts(int classes, int64_t n_max, double rho, CountRule rule) {
  if (classes < 2) throw ConfigError("classes: expected >= 2, found " + std::to_string(classes));
  if (n_max < 1) throw ConfigError("data.n_max: expected >= 1, found " + std::to_string(n_max));
  if (!(rho >= 1) || !std::isfinite(rho))
    throw ConfigError("data.rho: expected a finite number >= 1, found " + std::to_string(rho));
  std::vector<int64_t> n(static_cast<size_t>(classes));
  const double steps = classes - 1;
  if (rule == CountRule::kClosed) {
    for (int i = 0; i < classes; ++i)
      n[i] = static_cast<int64_t>(
          std::floor(static_cast<double>(n_max) * std::pow(rho, -i / steps) + 1e-9));
  } else {
    const double factor = std::pow(rho, -1.0 / steps);
    double v = static_cast<double>(n_max);
    n[0] = n_max;
    for (int i = 1; i < classes; ++i) {
      v = std::trunc(v * factor);
      n[i] = static_cast<int64_t>(v);
    }
  }
  std::vector<int> empty;
  for (int i = 0; i < classes; ++i)
    if (n[i] == 0) empty.push_back(i);
  if (!empty.empty())
    throw ConfigError(
        "data.count_rule: " + std::string(rule == CountRule::kClosed ? "closed" : "iterative") +
        " counts with n_max " + std::to_string(n_max) + ", rho " + std::to_string(rho) + " leave " +
        std::to_string(empty.size()) + " of " + std::to_string(classes) + " classes empty (ranks " +
        std::to_string(empty.front()) + ".." + std::to_string(empty.back()) +
        "); lower rho or raise n_max");
  return n;
}

std::vector<int> class_order(int classes, ClassOrder order, uint64_t seed) {
  std::vector<int> label(static_cast<size_t>(classes));
  std::iota(label.begin(), label.end(), 0);
  if (order == ClassOrder::kReverse) std::reverse(label.begin(), label.end());
  if (order == ClassOrder::kShuffle) {
    Rng rng(seed, named_stream("class_order"));
    for (int i = classes - 1; i > 0; --i)
      std::swap(label[i], label[rng.uniform_int(static_cast<uint64_t>(i) + 1)]);
  }
  return label;
}

std::vector<Split> class_splits(const std::vector<int64_t>& count_of_label, SplitRule rule,
                                double rank_fraction, int64_t many_min, int64_t few_max) {
  const int C = static_cast<int>(count_of_label.size());
  std::vector<Split> split(static_cast<size_t>(C), Split::kMedium);
  if (rule == SplitRule::kAbsolute) {
    for (int c = 0; c < C; ++c)
      split[c] = count_of_label[c] > many_min  ? Split::kMany
                 : count_of_label[c] < few_max ? Split::kFew
                                               : Split::kMedium;
    return split;
  }
  if (!(rank_fraction > 0 && rank_fraction <= 0.5))
    throw ConfigError("eval.rank_fraction: expected a number in (0, 0.5], found " +
                      std::to_string(rank_fraction));
  std::vector<int> by_rank(static_cast<size_t>(C));
  std::iota(by_rank.begin(), by_rank.end(), 0);
  std::stable_sort(by_rank.begin(), by_rank.end(), [&](int a, int b) {
    return count_of_label[a] > count_of_label[b];  // stable: ties keep label order
  });
  const int k = static_cast<int>(std::lround(rank_fraction * C));
  for (int r = 0; r < C; ++r)
    split[by_rank[r]] = r < k ? Split::kMany : (r >= C - k ? Split::kFew : Split::kMedium);
  return split;
}

const char* to_string(Split split) {
  switch (split) {
    case Split::kMany:
      return "many";
    case Split::kMedium:
      return "medium";
    case Split::kFew:
      return "few";
  }
  return "?";
}

}  // namespace effinfer::climbq
