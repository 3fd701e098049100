// Spec checks 5, 7 and 8: psytrack-mode hyperparameter optimisation against the reference fits
// made with the official psytrack 2.0.2 hyperOpt (../shared/reference/psytrack, README there).
// Each file is fitted from /hyperopt/hyper_init with opt = the /hyperopt attribute optList.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "fit.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

namespace {

using namespace effinfer::psytrack;

struct Reference {
  std::string file;
  bool check_hyp_std;  // MUST within 2% (N2000, N5000); sessions: SHOULD 30%, reported only
};

struct Loaded {
  Dataset data;
  TrialLayout layout;
  Hyper init;
  HyperParam param;
};

HyperValue read_hyper(const effinfer::io::H5File& f, const std::string& path) {
  HyperValue h;
  if (f.exists(path)) h.value = f.read_vector(path);
  return h;
}

Loaded load(const effinfer::io::H5File& f) {
  Loaded out;
  out.data.y = f.read_vector("/y");
  out.data.g = f.read_matrix("/inputs/x");
  for (Eigen::Index k = 0; k < out.data.g.cols(); ++k)
    out.data.weight_names.push_back("x[" + std::to_string(k) + "]");
  if (f.exists("/dayLength")) out.data.day_length = f.read_int_vector("/dayLength");
  out.layout = TrialLayout::from_day_length(out.data.n_trials(), out.data.day_length);
  out.init.sigma = read_hyper(f, "/hyperopt/hyper_init/sigma");
  out.init.sig_init = read_hyper(f, "/hyperopt/hyper_init/sigInit");
  out.init.sig_day = read_hyper(f, "/hyperopt/hyper_init/sigDay");
  std::stringstream list(f.read_attribute_string("/hyperopt", "optList"));
  for (std::string name; std::getline(list, name, ',');) {
    if (name == "sigma") out.param.opt.push_back(HyperKind::kSigma);
    if (name == "sigInit") out.param.opt.push_back(HyperKind::kSigInit);
    if (name == "sigDay") out.param.opt.push_back(HyperKind::kSigDay);
  }
  return out;
}

// psytrack's returned hypers in log2, in opt order (per weight).
Eigen::VectorXd reference_log2(const effinfer::io::H5File& f, const HyperParam& param) {
  std::vector<double> x;
  for (HyperKind kind : param.opt) {
    const Eigen::VectorXd v = f.read_vector(std::string("/hyperopt/hyper_opt/") + hyper_name(kind));
    for (Eigen::Index k = 0; k < v.size(); ++k) x.push_back(std::log2(v[k]));
  }
  return Eigen::Map<Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size()));
}

double correlation(const RowMatrix& a, const effinfer::io::RowMatrixXd& b_kn) {
  // a is (N, K) trial-major, b is (K, N) as stored in the reference files.
  const Eigen::ArrayXd x =
      Eigen::Map<const Eigen::ArrayXd>(RowMatrix(a.transpose()).data(), a.size());
  const Eigen::ArrayXd y = Eigen::Map<const Eigen::ArrayXd>(b_kn.data(), b_kn.size());
  const Eigen::ArrayXd dx = x - x.mean(), dy = y - y.mean();
  return (dx * dy).sum() / std::sqrt((dx * dx).sum() * (dy * dy).sum());
}

void run_reference(const Reference& ref) {
  const auto path = effinfer::test::shared_file_or_skip("reference/psytrack/" + ref.file);
  if (path.empty()) return;
  const auto f = effinfer::io::H5File::open(path.string());
  const Loaded in = load(f);
  FitOptions options;
  options.w_std = true;
  options.hyp_std = true;
  options.threads = 2;
  const FitResult fit = fit_hyper(in.data, in.layout, in.init, in.param, options);

  const double ref_logevd = f.read_attribute_double("/hyperopt", "logEvd");
  const double exact_logevd = f.read_attribute_double("/exact_opt", "logEvd");
  const Eigen::VectorXd trace_ref = f.read_vector("/hyperopt/trace_logEvd");
  const Eigen::VectorXd x_ref = reference_log2(f, in.param);
  const Eigen::VectorXd hyp_std_ref = f.read_vector("/hyperopt/hyp_std_log2");
  const double corr_ref = f.read_attribute_double("/hyperopt", "corr_wMode_truth");
  const double coverage_ref = f.read_attribute_double("/hyperopt", "coverage95");
  const double n_map_ref = f.read_attribute_double("/hyperopt", "n_map_solves");
  const double n_dla_ref = f.read_attribute_double("/hyperopt", "n_dla_evals");
  const auto truth = f.read_matrix("/truth/W");

  REQUIRE(fit.converged);
  REQUIRE(!fit.trace.empty());
  REQUIRE(fit.log2_hyper.size() == x_ref.size());
  const double max_dx = (fit.log2_hyper - x_ref).cwiseAbs().maxCoeff();
  const double logevd = fit.map.log_evidence;

  // Check 5.
  CHECK(std::abs(fit.trace[0].log_evidence - trace_ref[0]) <= 1e-6);
  CHECK((max_dx <= 0.05 || logevd >= ref_logevd - 0.1));
  CHECK(logevd <= exact_logevd + 0.01);
  bool returned_is_accepted_row = false;
  for (const TraceRow& row : fit.trace)
    if (row.accepted && row.log2_hyper == fit.log2_hyper && row.log_evidence == logevd)
      returned_is_accepted_row = true;
  CHECK(returned_is_accepted_row);

  // Check 7 (hyp_std of the surrogate at the final point).
  REQUIRE(fit.hyp_std_log2.size() == hyp_std_ref.size());
  const Eigen::ArrayXd rel =
      (fit.hyp_std_log2 - hyp_std_ref).array().abs() / hyp_std_ref.array().abs();
  if (ref.check_hyp_std) {
    for (Eigen::Index i = 0; i < rel.size(); ++i) CHECK(rel[i] <= 0.02);
  } else {
    for (Eigen::Index i = 0; i < rel.size(); ++i) WARN(rel[i] <= 0.30);  // SHOULD only
  }

  // Check 8 (recovery of the true weights; W_std from the best MAP).
  REQUIRE(fit.w_std.rows() == in.data.n_trials());
  const double corr = correlation(fit.map.w, truth);
  CHECK(corr >= corr_ref - 0.002);
  int covered = 0;
  for (int t = 0; t < in.data.n_trials(); ++t)
    for (int k = 0; k < in.data.n_weights(); ++k)
      if (std::abs(fit.map.w(t, k) - truth(k, t)) <= 1.96 * fit.w_std(t, k)) ++covered;
  const double coverage = static_cast<double>(covered) / static_cast<double>(fit.map.w.size());
  CHECK(std::abs(coverage - coverage_ref) <= 0.01);

  std::ostringstream msg;
  msg.precision(10);
  msg << ref.file << ": logEvd " << logevd << " (psytrack " << ref_logevd << ", exact opt "
      << exact_logevd << "); trace0 " << fit.trace[0].log_evidence << " (ref " << trace_ref[0]
      << "); max|dlog2| " << max_dx << "; log2 hypers";
  for (Eigen::Index i = 0; i < fit.log2_hyper.size(); ++i) msg << ' ' << fit.log2_hyper[i];
  msg << "; hyp_std";
  for (Eigen::Index i = 0; i < rel.size(); ++i)
    msg << ' ' << fit.hyp_std_log2[i] << " (" << 100 * rel[i] << "%)";
  msg << "; corr " << corr << " (ref " << corr_ref << "); coverage " << coverage << " (ref "
      << coverage_ref << "); n_map_solves " << fit.n_map_solves << " (psytrack " << n_map_ref
      << "); n_dla_evals " << fit.n_dla_evals << " (psytrack " << n_dla_ref
      << "); newton_iterations " << fit.newton_iterations;
  MESSAGE(msg.str());
}

}  // namespace

TEST_CASE("hyperopt reference: sim_K3_N2000 (checks 5, 7, 8)") {
  run_reference({"sim_K3_N2000.h5", true});
}

TEST_CASE("hyperopt reference: sim_K3_N5000 (checks 5, 7, 8)") {
  run_reference({"sim_K3_N5000.h5", true});
}

TEST_CASE("hyperopt reference: sim_K3_N5000_sessions (checks 5, 8; hyp_std SHOULD 30%)") {
  run_reference({"sim_K3_N5000_sessions.h5", false});
}
