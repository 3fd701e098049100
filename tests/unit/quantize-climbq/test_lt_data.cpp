// Spec quantize-climbq check 1 (long-tail counts; the literals are the spec's, which it traces to
// the official CIFAR-10-LT CSVs and SynDigits JSON), class orders and many/medium/few splits.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.hpp"
#include "lt_data.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
using V = std::vector<int64_t>;

namespace {
int64_t sum(const V& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }
int64_t min_of(const V& v) { return *std::min_element(v.begin(), v.end()); }
}  // namespace

TEST_CASE("climbq long-tail counts, closed rule (check 1)") {
  const auto closed = cq::CountRule::kClosed;
  CHECK(cq::long_tail_counts(10, 5000, 100, closed) ==
        V{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50});
  CHECK(sum(cq::long_tail_counts(10, 5000, 100, closed)) == 12406);
  const auto r10 = cq::long_tail_counts(10, 5000, 10, closed);
  const auto r50 = cq::long_tail_counts(10, 5000, 50, closed);
  const auto r200 = cq::long_tail_counts(10, 5000, 200, closed);
  CHECK(sum(r10) == 20431);
  CHECK(min_of(r10) == 500);
  CHECK(sum(r50) == 13996);
  CHECK(min_of(r50) == 100);
  CHECK(sum(r200) == 11203);
  CHECK(min_of(r200) == 25);
  CHECK(cq::long_tail_counts(10, 6000, 100, closed) ==
        V{6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60});
  CHECK(sum(cq::long_tail_counts(10, 6000, 100, closed)) == 14886);
}

TEST_CASE("climbq long-tail counts, iterative rule (check 1, the official generator)") {
  const auto it = cq::CountRule::kIterative;
  CHECK(cq::long_tail_counts(10, 6000, 100, it) ==
        V{6000, 3596, 2155, 1291, 773, 463, 277, 166, 99, 59});
  const auto r10 = cq::long_tail_counts(10, 5000, 10, it);
  CHECK(r10 == V{5000, 3871, 2997, 2320, 1796, 1390, 1076, 833, 644, 498});
  CHECK(sum(r10) == 20425);
  const auto r50 = cq::long_tail_counts(10, 5000, 50, it);
  const auto r200 = cq::long_tail_counts(10, 5000, 200, it);
  CHECK(sum(r50) == 13988);
  CHECK(min_of(r50) == 99);
  CHECK(sum(r200) == 11199);
  CHECK(min_of(r200) == 24);
  const auto d = cq::long_tail_counts(10, 1000, 10, it);
  CHECK(d == V{1000, 774, 599, 463, 358, 277, 214, 165, 127, 98});
  CHECK(sum(d) == 4075);
  const auto c100 = cq::long_tail_counts(100, 500, 10, it);
  CHECK(sum(c100) == 18292);
  CHECK(min_of(c100) == 32);
  // C = 100 collapses at rho 50 (10 empty classes) and 200 (28): a configuration error.
  const auto msg50 = effinfer::test::error_message<effinfer::ConfigError>(
      [] { cq::long_tail_counts(100, 500, 50, cq::CountRule::kIterative); });
  CHECK(effinfer::test::contains(msg50, "leave 10 of 100 classes empty"));
  const auto msg200 = effinfer::test::error_message<effinfer::ConfigError>(
      [] { cq::long_tail_counts(100, 500, 200, cq::CountRule::kIterative); });
  CHECK(effinfer::test::contains(msg200, "leave 28 of 100 classes empty"));
}

TEST_CASE("climbq long-tail counts reject bad parameters") {
  CHECK_THROWS_AS(cq::long_tail_counts(10, 0, 10, cq::CountRule::kClosed), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::long_tail_counts(10, 100, 0.5, cq::CountRule::kClosed),
                  effinfer::ConfigError);
  CHECK_THROWS_AS(cq::long_tail_counts(1, 100, 10, cq::CountRule::kClosed), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::parse_count_rule("exact"), effinfer::ConfigError);
  // rho 1 is balanced.
  CHECK(cq::long_tail_counts(4, 7, 1, cq::CountRule::kClosed) == V{7, 7, 7, 7});
}

TEST_CASE("climbq class orders") {
  CHECK(cq::class_order(4, cq::ClassOrder::kNatural, 0) == std::vector<int>{0, 1, 2, 3});
  CHECK(cq::class_order(4, cq::ClassOrder::kReverse, 0) == std::vector<int>{3, 2, 1, 0});
  const auto a = cq::class_order(10, cq::ClassOrder::kShuffle, 7);
  CHECK(a == cq::class_order(10, cq::ClassOrder::kShuffle, 7));  // seeded
  CHECK(std::set<int>(a.begin(), a.end()).size() == 10);         // a permutation
  bool differs = false;
  for (uint64_t s = 0; s < 5 && !differs; ++s)
    differs = cq::class_order(10, cq::ClassOrder::kShuffle, s) != a;
  CHECK(differs);
}

TEST_CASE("climbq many/medium/few splits") {
  using S = cq::Split;
  // C = 10 by rank: 3 / 4 / 3 (spec 2.7), ties broken by label.
  const V counts{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50};
  const auto s = cq::class_splits(counts, cq::SplitRule::kRank);
  CHECK(s == std::vector<S>{S::kMany, S::kMany, S::kMany, S::kMedium, S::kMedium, S::kMedium,
                            S::kMedium, S::kFew, S::kFew, S::kFew});
  // Reverse order of labels: the split follows the counts, not the labels.
  const V rev(counts.rbegin(), counts.rend());
  const auto sr = cq::class_splits(rev, cq::SplitRule::kRank);
  CHECK(sr[9] == S::kMany);
  CHECK(sr[0] == S::kFew);
  const V ties{5, 5, 5, 5};
  CHECK(cq::class_splits(ties, cq::SplitRule::kRank) ==
        std::vector<S>{S::kMany, S::kMedium, S::kMedium, S::kFew});
  CHECK(cq::class_splits(V{500, 100, 50, 19}, cq::SplitRule::kAbsolute) ==
        std::vector<S>{S::kMany, S::kMedium, S::kMedium, S::kFew});
}
