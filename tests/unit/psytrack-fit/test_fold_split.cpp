// psytrack's cross-validation split (spec 2.9, check 10): numpy legacy RandomState(seed)
// permutation reproduced bit for bit, and the leftovers rule when F does not divide N.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"
#include "xval.hpp"

using namespace effinfer::psytrack;

TEST_CASE("NumpyRandomState: raw MT19937 outputs and bounded draws equal numpy's") {
  // /usr/bin/python3 (numpy 1.24.2):
  //   np.random.RandomState(5489).randint(0, 2**32, size=3, dtype=np.uint32)
  //   (the raw outputs; 3499211612 is also the reference MT19937 init_genrand(5489) output)
  NumpyRandomState a(5489);
  CHECK(a.next_u32() == 3499211612U);
  CHECK(a.next_u32() == 581869302U);
  CHECK(a.next_u32() == 3890346734U);

  // np.random.RandomState(11).randint(0, 2**32, size=8, dtype=np.uint32): 624+ draws would
  // cross a regeneration; these first eight test the tempering.
  const std::vector<uint32_t> raw11 = {774252441U,  293375679U, 83645520U,   2854952027U,
                                       1989508433U, 833720247U, 3113567501U, 3978355020U};
  NumpyRandomState b(11);
  for (uint32_t v : raw11) CHECK(b.next_u32() == v);

  // np.random.RandomState(11).randint(0, 1000, size=6, dtype=np.uint32): masked rejection with
  // mask 1023 on 32-bit draws = random_interval(999).
  const std::vector<uint64_t> small = {921, 703, 80, 91, 337, 951};
  NumpyRandomState c(11);
  for (uint64_t v : small) CHECK(c.interval(999) == v);

  // np.random.RandomState(11).randint(0, 2**40, size=4, dtype=np.uint64): max > 2^32 - 1 takes
  // 64-bit draws (high word first) masked to 40 bits.
  const std::vector<uint64_t> big = {657423371967ULL, 346452335707ULL, 348726071223ULL,
                                     59812929868ULL};
  NumpyRandomState d(11);
  for (uint64_t v : big) CHECK(d.interval((1ULL << 40) - 1) == v);

  NumpyRandomState e(3);
  CHECK(e.interval(0) == 0);
}

TEST_CASE("numpy_permutation equals np.random.RandomState(seed).permutation(n)") {
  // /usr/bin/python3 -c "import numpy as np; print(list(np.random.RandomState(7).permutation(20)))"
  CHECK(numpy_permutation(20, 7) ==
        std::vector<int64_t>{1, 17, 2, 5, 11, 0, 18, 6, 13, 19, 10, 14, 8, 16, 9, 12, 7, 3, 4, 15});
  // ... RandomState(0).permutation(13)
  CHECK(numpy_permutation(13, 0) == std::vector<int64_t>{6, 11, 4, 10, 2, 8, 1, 7, 9, 3, 0, 5, 12});
  // ... RandomState(4294967295).permutation(10)
  CHECK(numpy_permutation(10, 4294967295U) == std::vector<int64_t>{6, 9, 5, 1, 8, 0, 7, 4, 2, 3});
  // p = np.random.RandomState(123).permutation(100000); p[:5], p[-5:],
  // int((p * np.arange(100000) % 1000003).sum())  (crosses many MT regenerations)
  const auto p = numpy_permutation(100000, 123);
  CHECK(std::vector<int64_t>(p.begin(), p.begin() + 5) ==
        std::vector<int64_t>{42083, 71825, 99535, 47879, 36734});
  CHECK(std::vector<int64_t>(p.end() - 5, p.end()) ==
        std::vector<int64_t>{63206, 61404, 17730, 28030, 15725});
  int64_t checksum = 0;
  for (int64_t i = 0; i < 100000; ++i) checksum += p[static_cast<size_t>(i)] * i % 1000003;
  CHECK(checksum == 50003627053LL);

  CHECK(numpy_permutation(1, 5) == std::vector<int64_t>{0});
  CHECK(numpy_permutation(0, 5).empty());
}

TEST_CASE("psytrack_fold_split: folds are consecutive chunks of the permutation") {
  // F divides N: fold f = perm[f*c, (f+1)*c); here perm = RandomState(7).permutation(20), c = 5.
  const std::vector<int64_t> perm = numpy_permutation(20, 7);
  const std::vector<int> fold = psytrack_fold_split(20, 4, 7);
  REQUIRE(fold.size() == 20);
  for (int i = 0; i < 20; ++i)
    CHECK(fold[static_cast<size_t>(perm[static_cast<size_t>(i)])] == i / 5);
}

TEST_CASE(
    "psytrack_fold_split: leftovers go one each to folds 0, 1, ... when F does not divide N") {
  // N 13, F 5: c = 2; perm = RandomState(0).permutation(13) = [6 11 4 10 2 8 1 7 9 3 0 5 12].
  // Folds 0..4 hold {6,11} {4,10} {2,8} {1,7} {9,3}; leftovers 0 -> fold 0, 5 -> fold 1,
  // 12 -> fold 2.
  const std::vector<int> fold = psytrack_fold_split(13, 5, 0);
  const std::vector<int> expected = {0, 3, 2, 4, 1, 1, 0, 3, 2, 4, 1, 0, 2};
  CHECK(fold == expected);
  std::vector<int> size(5, 0);
  for (int f : fold) ++size[static_cast<size_t>(f)];
  CHECK(size == std::vector<int>{3, 3, 3, 2, 2});

  CHECK_THROWS_AS(psytrack_fold_split(10, 1, 0), effinfer::ConfigError);
  CHECK_THROWS_AS(psytrack_fold_split(10, 11, 0), effinfer::ConfigError);
  // F = N: one trial per fold.
  const std::vector<int> loo = psytrack_fold_split(6, 6, 3);
  std::vector<int> sorted = loo;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("check 10: seed 7, N 2000, F 10 reproduces /xval/fold of sim_K3_N2000") {
  const auto path = effinfer::test::shared_file_or_skip("reference/psytrack/sim_K3_N2000.h5");
  if (path.empty()) return;
  const auto file = effinfer::io::H5File::open(path.string());
  const std::vector<int64_t> ref = file.read_int_vector("/xval/fold");
  REQUIRE(ref.size() == 2000);
  const std::vector<int> fold = psytrack_fold_split(2000, 10, 7);
  int mismatches = 0;
  for (size_t t = 0; t < ref.size(); ++t) mismatches += fold[t] != ref[t];
  CHECK(mismatches == 0);
}
