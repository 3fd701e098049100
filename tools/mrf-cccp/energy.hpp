// Energy kernels of mrf-cccp (spec 2.1, 2.5): E(x) = sum_r g_r(A_r x_r) and its gradient, and the
// same sums over the convex and concave parts of a decomposition (E_vex, E_cave), plus
// S = sum_r |f_r(x)| for the CCCP monotonicity guard.
//
// Evaluation is factor-major: factors are cut into fixed chunks (per family); each chunk gathers
// x_r through `vars`, maps u = A x_r, evaluates its coefficient rows with BatchEvaluator and
// writes the per-(factor, slot) gradient A^T grad g into a slot buffer. The chunks run under
// OpenMP; chunk partial sums are added in chunk order and variable gradients are summed over a
// precomputed variable -> (factor, slot) CSR list in a fixed order, so every result is
// independent of the thread count (spec 2.5, DESIGN "Scale-out").
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "decompose.hpp"
#include "model.hpp"
#include "poly.hpp"

namespace effinfer::mrf {

// Which coefficient tables to evaluate: the model's own (exact E), or the decomposition's.
enum class EnergyPart { kFull, kVex, kCave };

// The split of one family as evaluation tables (FactorFamily-like): one exponent table and
// coefficient rows [F, M'] or [1, M'] (shared) for each part.
struct SplitTables {
  ExponentTable exponents;
  RowMatrixXd coeffs_vex, coeffs_cave;
};

// Expands a family decomposition (rows deduplicated, row_of [F]) to tables over the family's
// F factors; a single unique row stays shared. Throws DataError when row_of does not match F.
SplitTables split_tables(const FamilyDecomposition& decomposition, int num_factors);

class Energy {
 public:
  // Validates variable ids against model.num_vars and the linmap shapes (DataError otherwise).
  // The model must outlive the Energy. threads: OpenMP threads, 0 = runtime default.
  explicit Energy(const Model& model, int threads = 0);

  // Attaches a decomposition: one entry per model family, matched by name (DataError when a
  // family is missing or its local dimension or factor count does not match).
  void set_split(const std::vector<FamilyDecomposition>& decompositions);
  // Same from ready tables, in model family order.
  void set_split_tables(std::vector<SplitTables> tables);
  bool has_split() const { return !split_.empty(); }

  // Value of the chosen part at x (size num_vars); writes the gradient when grad is non-null
  // (resized to num_vars) and, when abs_sum is non-null, S = sum_r sum_a |c_a u_r^a| of that part
  // (>= sum_r |f_r(x)|): the scale of the value's rounding error, which the CCCP guard uses as
  // its slack because sum_r |f_r| cancels to ~0 at an exact minimum while the terms do not.
  // Not reentrant: uses per-object scratch buffers.
  double evaluate(EnergyPart part, const Eigen::Ref<const Eigen::VectorXd>& x,
                  Eigen::VectorXd* grad = nullptr, double* abs_sum = nullptr) const;

  // Name of the family holding the factor with the largest |f_r(x)| (for "unbounded below").
  std::string largest_factor_family(const Eigen::Ref<const Eigen::VectorXd>& x) const;

  int64_t num_vars() const { return num_vars_; }
  int64_t num_factors() const { return num_factors_; }
  int threads() const { return threads_; }
  void set_threads(int threads) { threads_ = threads; }

  // Factors per chunk (fixed; part of the summation order).
  static constexpr int kChunk = 256;

 private:
  struct Table {
    Table(ExponentTable e, RowMatrixXd c)
        : exponents(std::move(e)), coeffs(std::move(c)), evaluator(exponents) {}
    ExponentTable exponents;
    RowMatrixXd coeffs;  // [F, M] or [1, M]
    BatchEvaluator evaluator;
  };
  struct Chunk {
    int family;
    int begin, end;  // factor range
  };
  const Table& table(EnergyPart part, int family) const;
  // Runs every chunk; fills chunk_value_/chunk_abs_ and, with gradients, slot_grad_.
  void run_chunks(EnergyPart part, const Eigen::Ref<const Eigen::VectorXd>& x, bool gradients,
                  std::vector<double>* factor_abs_max, bool term_abs = false) const;

  const Model* model_;
  int64_t num_vars_ = 0, num_factors_ = 0;
  int threads_ = 0;
  std::vector<Table> full_;
  std::vector<Table> split_;          // 2 per family (vex, cave) when attached
  std::vector<int64_t> slot_offset_;  // per family: first slot (factor-major, F*k slots)
  std::vector<Chunk> chunks_;
  // variable -> slots CSR (slots in ascending order)
  std::vector<int64_t> var_ptr_;
  std::vector<int64_t> var_slots_;
  mutable std::vector<double> slot_grad_, chunk_value_, chunk_abs_;
};

}  // namespace effinfer::mrf
