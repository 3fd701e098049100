#include "results.hpp"

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.hpp"
#include "core/system.hpp"
#include "model_io.hpp"

namespace effinfer::mrf {

ModelDecomposition decompose_model(const Model& model, const DecomposeOptions& options) {
  ModelDecomposition d;
  const double start = wall_seconds();
  for (const FactorFamily& f : model.families) {
    d.families.push_back(decompose_family(f.name, f.exponents, f.coeffs, options));
    const FamilyDecomposition& fd = d.families.back();
    d.n_sdp += fd.n_sdp;
    d.fallbacks += fd.fallbacks;
    d.sdp_iters_max = std::max(d.sdp_iters_max, fd.sdp_iters_max);
    d.certificates_passed = d.certificates_passed && fd.certificates_passed;
    d.max_degree = std::max(d.max_degree, fd.degree);
  }
  d.time_s = wall_seconds() - start;
  return d;
}

namespace {

std::vector<int32_t> to_int32(const ExponentTable& e) {
  return std::vector<int32_t>(e.data(), e.data() + e.size());
}

std::vector<hsize_t> shape2(Eigen::Index r, Eigen::Index c) {
  return {static_cast<hsize_t>(r), static_cast<hsize_t>(c)};
}

}  // namespace

void write_decomposition(io::H5File& file, const Model& model, const ModelDecomposition& d) {
  file.set_attribute("/", "model_sha256", model_sha256(model));
  file.create_group("/families");
  for (const FamilyDecomposition& f : d.families) {
    const std::string g = "/families/" + f.name;
    file.create_group(g);
    file.set_attribute(g, "degree", static_cast<int64_t>(f.degree));
    file.write_int32(g + "/exponents", to_int32(f.exponents),
                     shape2(f.exponents.rows(), f.exponents.cols()));
    file.set_units(g + "/exponents", "power per local variable");
    file.write_matrix(g + "/coeffs_vex", f.coeffs_vex);
    file.set_units(g + "/coeffs_vex", "energy units");
    file.write_matrix(g + "/coeffs_cave", f.coeffs_cave);
    file.set_units(g + "/coeffs_cave", "energy units");
    file.write_int64(g + "/row_of", f.row_of);
    file.set_units(g + "/row_of", "row index");
    std::vector<std::string> method;
    std::vector<int32_t> iters;
    RowMatrixXd min_eig(static_cast<Eigen::Index>(f.rows.size()), 2);
    Eigen::VectorXd residual(static_cast<Eigen::Index>(f.rows.size()));
    Eigen::VectorXd objective(static_cast<Eigen::Index>(f.rows.size()));
    for (size_t r = 0; r < f.rows.size(); ++r) {
      const Split& s = f.rows[r];
      method.push_back(s.method + (s.fallback ? " (fallback)" : ""));
      iters.push_back(s.sdp_iters);
      min_eig(static_cast<Eigen::Index>(r), 0) = s.gram_min_eig[0];
      min_eig(static_cast<Eigen::Index>(r), 1) = s.gram_min_eig[1];
      residual(static_cast<Eigen::Index>(r)) = s.identity_residual;
      objective(static_cast<Eigen::Index>(r)) =
          s.method == "sdp" ? s.sdp_objective : std::numeric_limits<double>::quiet_NaN();
    }
    file.write_strings(g + "/method", method);
    file.set_units(g + "/method", "split method per row");
    file.write_int32(g + "/sdp_iters", iters);
    file.set_units(g + "/sdp_iters", "interior-point iterations");
    file.write_matrix(g + "/gram_min_eig", min_eig);
    file.set_units(g + "/gram_min_eig", "lambda_min(Q_v), lambda_min(Q_c) (normalised problem)");
    file.write_vector(g + "/sdp_objective", objective);
    file.set_units(g + "/sdp_objective",
                   "optimal SDP objective of the normalised problem (NaN without SDP)");
    file.write_vector(g + "/identity_residual", residual);
    file.set_units(g + "/identity_residual", "max|c_vex + c_cave - c| / max|c|");
  }
}

ModelDecomposition read_decomposition(const std::string& path, const Model& model) {
  const io::H5File file = io::H5File::open(path);
  const std::string root = path + ":/";
  if (!file.has_attribute("/", "effinfer_schema") ||
      file.read_attribute_string("/", "effinfer_schema") != kDecompositionSchema)
    throw DataError(root + ": root attribute effinfer_schema: expected " +
                    std::string(kDecompositionSchema) + ", found " +
                    (file.has_attribute("/", "effinfer_schema")
                         ? "'" + file.read_attribute_string("/", "effinfer_schema") + "'"
                         : std::string("none")));
  const std::string expected = model_sha256(model);
  const std::string found = file.has_attribute("/", "model_sha256")
                                ? file.read_attribute_string("/", "model_sha256")
                                : std::string("none");
  if (found != expected)
    throw DataError(root +
                    ": attribute model_sha256: the decomposition was made for another "
                    "model (expected " +
                    expected + ", found " + found + "); run `mrf-cccp decompose` on this model");
  ModelDecomposition d;
  for (const FactorFamily& f : model.families) {
    const std::string g = "/families/" + f.name;
    if (!file.is_group(g))
      throw DataError(path + ":" + g + ": missing group for model family '" + f.name + "'");
    FamilyDecomposition fd;
    fd.name = f.name;
    fd.degree = static_cast<int>(file.read_attribute_int(g, "degree"));
    const RowMatrixXd e = file.read_matrix(g + "/exponents");
    if (e.cols() != f.local_dim())
      throw DataError(path + ":" + g + "/exponents: expected (M, " + std::to_string(f.local_dim()) +
                      "), found (" + std::to_string(e.rows()) + ", " + std::to_string(e.cols()) +
                      ")");
    fd.exponents = e.cast<int>();
    fd.coeffs_vex = file.read_matrix(g + "/coeffs_vex");
    fd.coeffs_cave = file.read_matrix(g + "/coeffs_cave");
    fd.row_of = file.read_int_vector(g + "/row_of");
    if (!fd.coeffs_vex.allFinite() || !fd.coeffs_cave.allFinite())
      throw DataError(path + ":" + g + ": expected finite coefficients, found NaN/Inf");
    d.max_degree = std::max(d.max_degree, fd.degree);
    d.families.push_back(std::move(fd));
  }
  return d;
}

namespace {

std::vector<double> gather(const std::vector<InstanceRun>& runs, size_t m,
                           double MethodResult::*field) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(r.methods[m].*field);
  return v;
}

Eigen::VectorXd as_vector(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

}  // namespace

void write_results(io::H5File& file, const std::vector<std::string>& methods,
                   const std::vector<InstanceRun>& runs) {
  const auto B = static_cast<Eigen::Index>(runs.size());
  file.set_attribute("/", "methods", methods);
  file.create_group("/results");
  std::vector<int64_t> ids;
  for (const auto& r : runs) ids.push_back(r.id);
  file.write_int64("/results/instance_id", ids);
  file.set_units("/results/instance_id", "instance index in the input set (0-based)");
  for (size_t m = 0; m < methods.size(); ++m) {
    const std::string g = "/results/" + methods[m];
    file.create_group(g + "/trace");
    const Eigen::Index V = B > 0 ? runs[0].methods[m].x.size() : 0;
    RowMatrixXd x(B, V);
    for (Eigen::Index b = 0; b < B; ++b) x.row(b) = runs[b].methods[m].x.transpose();
    file.write_matrix(g + "/x", x);
    file.set_units(g + "/x", "model variables");
    auto vec = [&](const std::string& name, double MethodResult::*field, const char* units) {
      file.write_vector(g + "/" + name, as_vector(gather(runs, m, field)));
      file.set_units(g + "/" + name, units);
    };
    vec("energy_init", &MethodResult::energy_init, "energy");
    vec("energy_final", &MethodResult::energy_final, "energy");
    vec("time_s", &MethodResult::time_s, "s");
    std::vector<int64_t> iterations, evaluations, offsets = {0};
    std::vector<uint8_t> monotone;
    std::vector<std::string> stop;
    std::vector<double> te, tt;
    std::vector<int32_t> inner;
    for (const auto& r : runs) {
      const MethodResult& res = r.methods[m];
      iterations.push_back(res.iterations);
      evaluations.push_back(res.evaluations);
      monotone.push_back(res.monotone ? 1 : 0);
      stop.push_back(res.stop_reason);
      te.insert(te.end(), res.trace_energy.begin(), res.trace_energy.end());
      tt.insert(tt.end(), res.trace_time_s.begin(), res.trace_time_s.end());
      inner.insert(inner.end(), res.trace_inner_iters.begin(), res.trace_inner_iters.end());
      offsets.push_back(static_cast<int64_t>(te.size()));
    }
    file.write_int64(g + "/iterations", iterations);
    file.set_units(g + "/iterations", methods[m] == "cccp" ? "outer iterations" : "iterations");
    file.write_int64(g + "/evaluations", evaluations);
    file.set_units(g + "/evaluations", "energy+gradient evaluations");
    file.write_uint8(g + "/monotone", monotone);
    file.set_units(g + "/monotone", "1 = trace never increased");
    file.write_strings(g + "/stop_reason", stop);
    file.set_units(g + "/stop_reason", "tol_energy|tol_x|gtol|max_iters|line_search|nonmonotone");
    file.write_vector(g + "/trace/energy", as_vector(te));
    file.set_units(g + "/trace/energy", "energy (exact E)");
    file.write_vector(g + "/trace/time_s", as_vector(tt));
    file.set_units(g + "/trace/time_s", "s since the method started");
    file.write_int64(g + "/trace/offsets", offsets);
    file.set_units(g + "/trace/offsets", "trace index of each instance's first entry");
    if (methods[m] == "cccp" && inner.size() == te.size()) {
      file.write_int32(g + "/trace/inner_iters", inner);
      file.set_units(g + "/trace/inner_iters", "inner iterations of the outer step");
    }
    std::set<std::string> names;
    for (const auto& r : runs)
      for (const auto& [k, v] : r.metrics[m]) names.insert(k);
    if (!names.empty()) file.create_group(g + "/metrics");
    for (const auto& name : names) {
      std::vector<double> v;
      for (const auto& r : runs) {
        auto it = r.metrics[m].find(name);
        v.push_back(it == r.metrics[m].end() ? std::numeric_limits<double>::quiet_NaN()
                                             : it->second);
      }
      file.write_vector(g + "/metrics/" + name, as_vector(v));
      auto u = kMetricUnits.find(name);
      file.set_units(g + "/metrics/" + name, u == kMetricUnits.end() ? "" : u->second);
    }
  }
  file.create_group("/results/decomposition");
  std::vector<double> time;
  std::vector<int64_t> n_sdp, iters, fallbacks;
  for (const auto& r : runs) {
    time.push_back(r.decomposition_time_s);
    n_sdp.push_back(r.n_sdp);
    iters.push_back(r.sdp_iters_max);
    fallbacks.push_back(r.fallbacks);
  }
  file.write_vector("/results/decomposition/time_s", as_vector(time));
  file.set_units("/results/decomposition/time_s", "s");
  file.write_int64("/results/decomposition/n_sdp", n_sdp);
  file.set_units("/results/decomposition/n_sdp", "SDPs solved");
  file.write_int64("/results/decomposition/sdp_iters_max", iters);
  file.set_units("/results/decomposition/sdp_iters_max", "interior-point iterations");
  file.write_int64("/results/decomposition/fallbacks", fallbacks);
  file.set_units("/results/decomposition/fallbacks", "bound splits after SDP failure");
}

namespace {

// Reads a result file back into runs (the inverse of write_results).
std::vector<InstanceRun> read_results(const std::string& path, std::vector<std::string>& methods) {
  const io::H5File file = io::H5File::open(path);
  if (!file.has_attribute("/", "effinfer_schema") ||
      file.read_attribute_string("/", "effinfer_schema") != kResultSchema)
    throw DataError(path + ":/: root attribute effinfer_schema: expected " +
                    std::string(kResultSchema));
  methods = file.read_attribute_strings("/", "methods");
  const auto ids = file.read_int_vector("/results/instance_id");
  std::vector<InstanceRun> runs(ids.size());
  for (size_t b = 0; b < ids.size(); ++b) {
    runs[b].id = ids[b];
    runs[b].methods.resize(methods.size());
    runs[b].metrics.resize(methods.size());
  }
  const auto dt = file.read_vector("/results/decomposition/time_s");
  const auto dn = file.read_int_vector("/results/decomposition/n_sdp");
  const auto di = file.read_int_vector("/results/decomposition/sdp_iters_max");
  const auto df = file.read_int_vector("/results/decomposition/fallbacks");
  for (size_t b = 0; b < runs.size(); ++b) {
    runs[b].decomposition_time_s = dt(static_cast<Eigen::Index>(b));
    runs[b].n_sdp = static_cast<int>(dn[b]);
    runs[b].sdp_iters_max = static_cast<int>(di[b]);
    runs[b].fallbacks = static_cast<int>(df[b]);
  }
  for (size_t m = 0; m < methods.size(); ++m) {
    const std::string g = "/results/" + methods[m];
    const RowMatrixXd x = file.read_matrix(g + "/x");
    const auto e0 = file.read_vector(g + "/energy_init"),
               e1 = file.read_vector(g + "/energy_final"), ts = file.read_vector(g + "/time_s");
    const auto it = file.read_int_vector(g + "/iterations"),
               ev = file.read_int_vector(g + "/evaluations"),
               mono = file.read_int_vector(g + "/monotone");
    const auto stop = file.read_strings(g + "/stop_reason");
    const auto te = file.read_vector(g + "/trace/energy"),
               tt = file.read_vector(g + "/trace/time_s");
    const auto off = file.read_int_vector(g + "/trace/offsets");
    std::vector<int64_t> inner;
    if (file.exists(g + "/trace/inner_iters"))
      inner = file.read_int_vector(g + "/trace/inner_iters");
    if (x.rows() != static_cast<Eigen::Index>(runs.size()) || off.size() != runs.size() + 1)
      throw DataError(path + ":" + g + ": expected " + std::to_string(runs.size()) + " instances");
    std::vector<std::string> metric_names;
    if (file.is_group(g + "/metrics")) metric_names = file.children(g + "/metrics");
    std::map<std::string, Eigen::VectorXd> metric_values;
    for (const auto& name : metric_names)
      metric_values[name] = file.read_vector(g + "/metrics/" + name);
    for (size_t b = 0; b < runs.size(); ++b) {
      MethodResult& r = runs[b].methods[m];
      const auto i = static_cast<Eigen::Index>(b);
      r.x = x.row(i).transpose();
      r.energy_init = e0(i), r.energy_final = e1(i), r.time_s = ts(i);
      r.iterations = it[b], r.evaluations = ev[b], r.monotone = mono[b] != 0;
      r.stop_reason = stop[b];
      for (int64_t k = off[b]; k < off[b + 1]; ++k) {
        r.trace_energy.push_back(te(k));
        r.trace_time_s.push_back(tt(k));
        if (!inner.empty()) r.trace_inner_iters.push_back(static_cast<int>(inner[k]));
      }
      for (const auto& [name, v] : metric_values) runs[b].metrics[m][name] = v(i);
    }
  }
  return runs;
}

}  // namespace

void merge_results(io::H5File& out, const std::vector<std::string>& inputs) {
  std::vector<std::string> methods;
  std::vector<InstanceRun> all;
  std::set<int64_t> seen;
  for (const auto& path : inputs) {
    std::vector<std::string> m;
    auto runs = read_results(path, m);
    if (methods.empty()) methods = m;
    if (m != methods)
      throw DataError(path + ":/ (attr methods): expected the methods of " + inputs.front() +
                      ", found a different list");
    for (auto& r : runs) {
      if (!all.empty() && !r.methods.empty() && !all.front().methods.empty() &&
          r.methods[0].x.size() != all.front().methods[0].x.size())
        throw DataError(path + ": instance " + std::to_string(r.id) +
                        " has a different variable count than " + inputs.front());
      if (!seen.insert(r.id).second)
        throw DataError(path + ": instance " + std::to_string(r.id) +
                        " appears in more than one input");
      all.push_back(std::move(r));
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const InstanceRun& a, const InstanceRun& b) { return a.id < b.id; });
  write_results(out, methods, all);
}

}  // namespace effinfer::mrf
