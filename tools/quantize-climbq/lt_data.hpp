// Long-tailed class counts, class orders and many/medium/few splits of quantize-climbq (spec 2.7;
// ClimbQ, Chen, Yang & Chen, NeurIPS 2022, and the long-tail convention of Cui et al., CVPR 2019).
//
//   closed    n_i = floor(n_max rho^(-i/(C-1)) + 1e-9)            (the guard absorbs pow() ulps)
//   iterative n_0 = n_max, n_i = trunc(n_{i-1} rho^(-1/(C-1)))     (the official generator, in
//   double)
//
// Counts are by rank i = 0..C-1 (head first); a class order maps rank -> label.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace effinfer::climbq {

enum class CountRule { kClosed, kIterative };
enum class ClassOrder { kNatural, kReverse, kShuffle };

CountRule parse_count_rule(const std::string& name);    // closed | iterative (ConfigError)
ClassOrder parse_class_order(const std::string& name);  // natural | reverse | shuffle

// Train images per rank. ConfigError (78) when rho < 1, n_max < 1, classes < 2, or the rule leaves
// classes empty (the message names how many and which ranks).
std::vector<int64_t> long_tail_counts(int classes, int64_t n_max, double rho, CountRule rule);

// label_at_rank[i] = the label of rank i (shuffle: a Fisher-Yates permutation from Rng(seed,
// stream "class_order")).
std::vector<int> class_order(int classes, ClassOrder order, uint64_t seed);

enum class Split { kMany, kMedium, kFew };
enum class SplitRule { kRank, kAbsolute };

// Split of every label from its train count (spec 2.7): `rank` sorts labels by count, descending,
// ties by label; the first round(fraction C) are many, the last round(fraction C) few, the rest
// medium. `absolute`: many n > many_min, few n < few_max, else medium.
std::vector<Split> class_splits(const std::vector<int64_t>& count_of_label, SplitRule rule,
                                double rank_fraction = 0.3, int64_t many_min = 100,
                                int64_t few_max = 20);

const char* to_string(Split split);

}  // namespace effinfer::climbq
