#include "energy.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace effinfer::mrf {

SplitTables split_tables(const FamilyDecomposition& d, int num_factors) {
  SplitTables t;
  t.exponents = d.exponents;
  if (d.coeffs_vex.rows() != d.coeffs_cave.rows() || d.coeffs_vex.cols() != d.exponents.rows() ||
      d.coeffs_cave.cols() != d.exponents.rows())
    throw DataError("decomposition of family '" + d.name + "': coefficient tables [" +
                    std::to_string(d.coeffs_vex.rows()) + "," +
                    std::to_string(d.coeffs_vex.cols()) + "] do not match " +
                    std::to_string(d.exponents.rows()) + " monomials");
  const int64_t R = d.coeffs_vex.rows();
  if (R == 1) {  // one unique row: shared (row_of, when given, is [1] or [F] of zeros)
    t.coeffs_vex = d.coeffs_vex;
    t.coeffs_cave = d.coeffs_cave;
    const int64_t n = static_cast<int64_t>(d.row_of.size());
    if (n > 1 && n != num_factors)
      throw DataError("decomposition of family '" + d.name + "': row_of has " + std::to_string(n) +
                      " entries, expected " + std::to_string(num_factors) + " factors");
    return t;
  }
  if (static_cast<int64_t>(d.row_of.size()) != num_factors)
    throw DataError("decomposition of family '" + d.name + "': row_of has " +
                    std::to_string(d.row_of.size()) + " entries, expected " +
                    std::to_string(num_factors) + " factors");
  t.coeffs_vex.resize(num_factors, d.exponents.rows());
  t.coeffs_cave.resize(num_factors, d.exponents.rows());
  for (int f = 0; f < num_factors; ++f) {
    const int64_t r = d.row_of[f];
    if (r < 0 || r >= R)
      throw DataError("decomposition of family '" + d.name + "': row_of[" + std::to_string(f) +
                      "] = " + std::to_string(r) + " is outside [0, " + std::to_string(R) + ")");
    t.coeffs_vex.row(f) = d.coeffs_vex.row(r);
    t.coeffs_cave.row(f) = d.coeffs_cave.row(r);
  }
  return t;
}

Energy::Energy(const Model& model, int threads)
    : model_(&model), num_vars_(model.num_vars), threads_(threads) {
  const int nf = static_cast<int>(model.families.size());
  slot_offset_.resize(nf + 1, 0);
  for (int f = 0; f < nf; ++f) {
    const FactorFamily& fam = model.families[f];
    const int F = fam.num_factors(), k = fam.arity(), m = fam.local_dim();
    if (fam.coeffs.cols() != fam.num_terms() || (fam.coeffs.rows() != F && fam.coeffs.rows() != 1))
      throw DataError("family '" + fam.name + "': coeffs must be [" + std::to_string(F) + "," +
                      std::to_string(fam.num_terms()) + "] or [1," +
                      std::to_string(fam.num_terms()) + "]");
    if (fam.linmap.size() == 0) {
      if (m != k)
        throw DataError("family '" + fam.name + "': no linmap, so the exponent width " +
                        std::to_string(m) + " must equal the arity " + std::to_string(k));
    } else {
      const int64_t rows = fam.linmap_per_factor ? int64_t{F} * m : m;
      if (fam.linmap.rows() != rows || fam.linmap.cols() != k)
        throw DataError("family '" + fam.name + "': linmap must be [" + std::to_string(rows) + "," +
                        std::to_string(k) + "]");
    }
    for (int r = 0; r < F; ++r)
      for (int j = 0; j < k; ++j)
        if (fam.vars(r, j) < 0 || fam.vars(r, j) >= num_vars_)
          throw DataError("family '" + fam.name + "': vars[" + std::to_string(r) + "," +
                          std::to_string(j) + "] = " + std::to_string(fam.vars(r, j)) +
                          " is outside [0, " + std::to_string(num_vars_) + ")");
    full_.emplace_back(fam.exponents, fam.coeffs);
    slot_offset_[f + 1] = slot_offset_[f] + int64_t{F} * k;
    num_factors_ += F;
    for (int b = 0; b < F; b += kChunk) chunks_.push_back({f, b, std::min(F, b + kChunk)});
  }
  // variable -> slot CSR by counting sort (slots stay in ascending order per variable).
  var_ptr_.assign(num_vars_ + 1, 0);
  for (int f = 0; f < nf; ++f) {
    const VarTable& v = model.families[f].vars;
    for (int64_t i = 0; i < v.size(); ++i) ++var_ptr_[v.data()[i] + 1];
  }
  for (int64_t v = 0; v < num_vars_; ++v) var_ptr_[v + 1] += var_ptr_[v];
  var_slots_.resize(var_ptr_[num_vars_]);
  std::vector<int64_t> fill(var_ptr_.begin(), var_ptr_.end() - 1);
  for (int f = 0; f < nf; ++f) {
    const VarTable& v = model.families[f].vars;  // row-major: index r*k + j = slot
    for (int64_t i = 0; i < v.size(); ++i) var_slots_[fill[v.data()[i]]++] = slot_offset_[f] + i;
  }
  slot_grad_.resize(slot_offset_[nf]);
  chunk_value_.resize(chunks_.size());
  chunk_abs_.resize(chunks_.size());
}

void Energy::set_split(const std::vector<FamilyDecomposition>& decompositions) {
  std::vector<SplitTables> tables;
  for (const FactorFamily& fam : model_->families) {
    auto it = std::find_if(decompositions.begin(), decompositions.end(),
                           [&](const FamilyDecomposition& d) { return d.name == fam.name; });
    if (it == decompositions.end())
      throw DataError("decomposition has no family '" + fam.name + "' of the model");
    tables.push_back(split_tables(*it, fam.num_factors()));
  }
  set_split_tables(std::move(tables));
}

void Energy::set_split_tables(std::vector<SplitTables> tables) {
  const auto& fams = model_->families;
  if (tables.size() != fams.size())
    throw DataError("decomposition has " + std::to_string(tables.size()) + " families, model has " +
                    std::to_string(fams.size()));
  std::vector<Table> split;
  for (size_t f = 0; f < fams.size(); ++f) {
    SplitTables& t = tables[f];
    const int F = fams[f].num_factors();
    for (RowMatrixXd* c : {&t.coeffs_vex, &t.coeffs_cave})
      if (t.exponents.cols() != fams[f].local_dim() || c->cols() != t.exponents.rows() ||
          (c->rows() != F && c->rows() != 1))
        throw DataError("decomposition of family '" + fams[f].name +
                        "' does not match the model (local dimension " +
                        std::to_string(fams[f].local_dim()) + ", " + std::to_string(F) +
                        " factors)");
    split.emplace_back(t.exponents, std::move(t.coeffs_vex));
    split.emplace_back(std::move(t.exponents), std::move(t.coeffs_cave));
  }
  split_ = std::move(split);
}

const Energy::Table& Energy::table(EnergyPart part, int family) const {
  if (part == EnergyPart::kFull) return full_[family];
  if (split_.empty()) throw InternalError("energy: convex/concave part requested without a split");
  return split_[2 * family + (part == EnergyPart::kVex ? 0 : 1)];
}

void Energy::run_chunks(EnergyPart part, const Eigen::Ref<const Eigen::VectorXd>& x, bool gradients,
                        std::vector<double>* factor_abs_max, bool term_abs) const {
  if (x.size() != num_vars_)
    throw InternalError("energy: x has " + std::to_string(x.size()) + " entries, expected " +
                        std::to_string(num_vars_));
  const int64_t nc = static_cast<int64_t>(chunks_.size());
  const int nt = threads_ > 0 ? threads_ : omp_get_max_threads();
#pragma omp parallel num_threads(nt) if (nt > 1 && nc > 1)
  {
    // Per-thread scratch kept across calls: small models are evaluated thousands of times per
    // second, where allocations would dominate.
    static thread_local RowMatrixXd X, U, G;
    static thread_local Eigen::VectorXd values, abs_terms;
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < nc; ++c) {
      const Chunk& ch = chunks_[c];
      const FactorFamily& fam = model_->families[ch.family];
      const Table& tb = table(part, ch.family);
      const int n = ch.end - ch.begin, k = fam.arity(), m = fam.local_dim();
      X.resize(n, k);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < k; ++j) X(i, j) = x[fam.vars(ch.begin + i, j)];
      const bool identity = fam.linmap.size() == 0;
      if (identity) {
        U = X;
      } else if (!fam.linmap_per_factor) {
        U.noalias() = X * fam.linmap.transpose();
      } else {
        U.resize(n, m);
        for (int i = 0; i < n; ++i)
          U.row(i).noalias() =
              X.row(i) * fam.linmap.middleRows(int64_t{ch.begin + i} * m, m).transpose();
      }
      values.resize(n);
      const auto coeffs =
          tb.coeffs.rows() == 1 ? tb.coeffs.topRows(1) : tb.coeffs.middleRows(ch.begin, n);
      if (term_abs) abs_terms.resize(n);
      tb.evaluator.evaluate(coeffs, U, values, gradients ? &G : nullptr,
                            term_abs ? abs_terms.data() : nullptr);
      double s = 0.0, a = 0.0, amax = 0.0;
      for (int i = 0; i < n; ++i) {
        s += values[i];
        a += term_abs ? abs_terms[i] : std::abs(values[i]);
        if (!(std::abs(values[i]) <= amax)) amax = std::abs(values[i]);  // NaN propagates
      }
      chunk_value_[c] = s;
      chunk_abs_[c] = a;
      if (factor_abs_max) (*factor_abs_max)[c] = amax;
      if (!gradients) continue;
      double* out = slot_grad_.data() + slot_offset_[ch.family] + int64_t{ch.begin} * k;
      if (identity) {
        Eigen::Map<RowMatrixXd>(out, n, k) = G;
      } else if (!fam.linmap_per_factor) {
        Eigen::Map<RowMatrixXd>(out, n, k).noalias() = G * fam.linmap;
      } else {
        Eigen::Map<RowMatrixXd> O(out, n, k);
        for (int i = 0; i < n; ++i)
          O.row(i).noalias() = G.row(i) * fam.linmap.middleRows(int64_t{ch.begin + i} * m, m);
      }
    }
  }
}

double Energy::evaluate(EnergyPart part, const Eigen::Ref<const Eigen::VectorXd>& x,
                        Eigen::VectorXd* grad, double* abs_sum) const {
  run_chunks(part, x, grad != nullptr, nullptr, abs_sum != nullptr);
  double s = 0.0, a = 0.0;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    s += chunk_value_[c];
    a += chunk_abs_[c];
  }
  if (abs_sum) *abs_sum = a;
  if (grad) {
    grad->resize(num_vars_);
    const int nt = threads_ > 0 ? threads_ : omp_get_max_threads();
    const double* sg = slot_grad_.data();
    double* g = grad->data();
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && num_vars_ > 4096)
    for (int64_t v = 0; v < num_vars_; ++v) {
      double acc = 0.0;
      for (int64_t p = var_ptr_[v]; p < var_ptr_[v + 1]; ++p) acc += sg[var_slots_[p]];
      g[v] = acc;
    }
  }
  return s;
}

std::string Energy::largest_factor_family(const Eigen::Ref<const Eigen::VectorXd>& x) const {
  std::vector<double> amax(chunks_.size(), 0.0);
  run_chunks(EnergyPart::kFull, x, false, &amax);
  int best = -1;
  double best_v = -1.0;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    // NaN or infinite values rank first.
    const double v = std::isfinite(amax[c]) ? amax[c] : HUGE_VAL;
    if (v > best_v || best < 0) {
      best_v = v;
      best = chunks_[c].family;
    }
  }
  return best < 0 ? std::string() : model_->families[best].name;
}

}  // namespace effinfer::mrf
