// mrf-cccp model_io (spec 3.3 "Model", 6): HDF5 round trip, YAML and HDF5 forms reading
// identically, the model fingerprint, and one test per bad-input row that concerns models.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "model_io.hpp"
#include "test_support.hpp"

namespace mrf = effinfer::mrf;
namespace io = effinfer::io;
using effinfer::test::TempDir;

namespace {

// Three families covering every layout: shared coefficients without linmap, per-factor
// coefficients with per-factor linmaps (m < k), and a shared linmap.
mrf::Model sample_model() {
  mrf::Model model;
  model.num_vars = 6;
  model.app = "generic";
  model.x0 = Eigen::VectorXd::LinSpaced(6, -1.0, 1.5);
  model.truth = Eigen::VectorXd::LinSpaced(6, 0.25, 3.0);

  mrf::FactorFamily edge;
  edge.name = "edge";
  edge.vars.resize(3, 2);
  edge.vars << 0, 1, 1, 2, 4, 5;
  edge.exponents = mrf::monomials_up_to(2, 4);
  edge.coeffs.resize(1, edge.exponents.rows());
  for (int j = 0; j < edge.coeffs.cols(); ++j) edge.coeffs(0, j) = 0.1 * j - 0.3 + 1.0 / 3.0;

  mrf::FactorFamily tri;
  tri.name = "tri";
  tri.vars.resize(2, 3);
  tri.vars << 0, 1, 2, 3, 4, 5;
  tri.exponents = mrf::monomials_up_to(2, 2);
  tri.coeffs.resize(2, tri.exponents.rows());
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < tri.coeffs.cols(); ++j) tri.coeffs(r, j) = std::sqrt(r + j + 2.0);
  tri.linmap.resize(2 * 2, 3);
  tri.linmap << 1, -1, 0, 0, 1, -1,  // factor 0
      0.5, 0, 0.25, -2, 1e-3, 7;     // factor 1
  tri.linmap_per_factor = true;

  mrf::FactorFamily unary;
  unary.name = "unary";
  unary.vars.resize(2, 1);
  unary.vars << 3, 5;
  unary.exponents = mrf::monomials_up_to(1, 6);
  unary.coeffs.resize(2, 7);
  unary.coeffs << 0, 0, 8.26888935, 0, -11.3881391, 0, 5.86945817,  //
      1, 2, 3, 4, 5, 6, 7;
  unary.linmap.resize(1, 1);
  unary.linmap << 0.5;

  model.families = {edge, tri, unary};
  return model;
}

void check_equal(const mrf::Model& a, const mrf::Model& b) {
  CHECK(a.num_vars == b.num_vars);
  CHECK(a.app == b.app);
  CHECK(a.x0 == b.x0);
  CHECK(a.truth == b.truth);
  REQUIRE(a.families.size() == b.families.size());
  for (size_t i = 0; i < a.families.size(); ++i) {
    const auto& f = a.families[i];
    const auto& g = b.families[i];
    CHECK(f.name == g.name);
    CHECK(f.vars == g.vars);
    CHECK(f.exponents == g.exponents);
    CHECK(f.coeffs == g.coeffs);
    CHECK(f.linmap == g.linmap);
    CHECK(f.linmap_per_factor == g.linmap_per_factor);
  }
}

std::string write_h5(const TempDir& dir, const std::string& name, const mrf::Model& model) {
  const std::string path = dir.file(name);
  auto file = io::H5File::create(path);
  mrf::write_model(file, model);
  file.close();
  return path;
}

std::string yaml_number(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

template <typename Matrix>
std::string yaml_rows(const Matrix& m, Eigen::Index first, Eigen::Index count) {
  std::string out = "[";
  for (Eigen::Index r = first; r < first + count; ++r) {
    out += r > first ? ", [" : "[";
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      out += (j ? ", " : "") + yaml_number(static_cast<double>(m(r, j)));
    out += "]";
  }
  return out + "]";
}

template <typename Matrix>
std::string yaml_matrix(const Matrix& m) {
  return yaml_rows(m, 0, m.rows());
}

std::string yaml_vector(const Eigen::VectorXd& v) {
  std::string out = "[";
  for (Eigen::Index i = 0; i < v.size(); ++i) out += (i ? ", " : "") + yaml_number(v[i]);
  return out + "]";
}

// The YAML form of a model, families in reverse order (the reader orders them by name).
std::string to_yaml(const mrf::Model& model) {
  std::string y = "num_vars: " + std::to_string(model.num_vars) + "\napp: " + model.app + "\n";
  if (model.x0.size()) y += "x0: " + yaml_vector(model.x0) + "\n";
  if (model.truth.size()) y += "truth: {x: " + yaml_vector(model.truth) + "}\n";
  y += "factors:\n";
  for (auto it = model.families.rbegin(); it != model.families.rend(); ++it) {
    const auto& f = *it;
    y += "  " + f.name + ":\n";
    y += "    vars: " + yaml_matrix(f.vars) + "\n";
    y += "    exponents: " + yaml_matrix(f.exponents) + "\n";
    y += "    coeffs: " + yaml_matrix(f.coeffs) + "\n";
    if (f.linmap.size()) {
      y += "    linmap: ";
      if (f.linmap_per_factor) {
        const int m = f.local_dim();
        y += "[";
        for (int r = 0; r < f.num_factors(); ++r)
          y += (r ? ", " : "") + yaml_rows(f.linmap, r * m, m);
        y += "]\n";
      } else {
        y += yaml_matrix(f.linmap) + "\n";
      }
    }
  }
  return y;
}

// Runs fn, expecting exception type E whose message contains every needle.
template <typename E>
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    FAIL("expected an exception");
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& needle : needles)
      CHECK_MESSAGE(msg.find(needle) != std::string::npos, "'" << needle << "' not in: " << msg);
  } catch (const std::exception& e) {
    FAIL("wrong exception type: " << e.what());
  }
}

template <typename E>
void expect_read_error(const std::string& path, std::initializer_list<std::string> needles) {
  expect_error<E>([&] { mrf::read_model(path); }, needles);
}

// A model whose one family "edge" (F = 3, k = m = 2, shared coefficients on the degree-2 table)
// is written dataset by dataset; `skip` names a dataset left out, `extra` writes more (or
// replacements for the skipped one).
std::string write_parts(const TempDir& dir, const std::string& skip,
                        const std::function<void(io::H5File&)>& extra = {}, bool schema = true) {
  const std::string path = dir.file("parts.h5");
  auto file = io::H5File::create(path);
  if (schema) file.set_attribute("/", "effinfer_schema", mrf::kModelSchema);
  file.set_attribute("/", "num_vars", int64_t{4});
  file.set_attribute("/", "app", "generic");
  file.create_group("/factors/edge");
  if (skip != "vars") file.write_int64("/factors/edge/vars", {0, 1, 1, 2, 2, 3}, {3, 2});
  const auto exps = mrf::monomials_up_to(2, 2);
  if (skip != "exponents")
    file.write_int32("/factors/edge/exponents",
                     std::vector<int32_t>(exps.data(), exps.data() + exps.size()), {6, 2});
  if (skip != "coeffs") {
    io::RowMatrixXd c(1, 6);
    c << 1, 2, 3, 4, 5, 6;
    file.write_matrix("/factors/edge/coeffs", c);
  }
  if (extra) extra(file);
  file.close();
  return path;
}

}  // namespace

TEST_SUITE_BEGIN("mrf-cccp model_io");

TEST_CASE("model_io: HDF5 write then read gives the same model") {
  TempDir dir;
  const auto model = sample_model();
  const auto path = write_h5(dir, "m.h5", model);
  const auto back = mrf::read_model(path);
  check_equal(model, back);
  CHECK(mrf::model_sha256(back) == mrf::model_sha256(model));
  // The file carries the schema, the declared degrees and the per-factor linmap as rank 3.
  auto file = io::H5File::open(path);
  CHECK(file.read_attribute_string("/", "effinfer_schema") == "mrf-cccp/model/1");
  CHECK(file.read_attribute_int("/factors/edge", "degree") == 4);
  CHECK(file.info("/factors/tri/linmap").shape == std::vector<hsize_t>{2, 2, 3});
  CHECK(file.info("/factors/edge/vars").describe() == "int64 (3, 2)");
  CHECK(file.info("/factors/edge/exponents").describe() == "int32 (15, 2)");
}

TEST_CASE("model_io: the same model as YAML and as HDF5 reads identically") {
  TempDir dir;
  const auto model = sample_model();
  const auto from_h5 = mrf::read_model(write_h5(dir, "m.h5", model));
  const auto yaml_path = dir.write("m.yaml", to_yaml(model));
  const auto from_yaml = mrf::read_model(yaml_path);
  check_equal(from_h5, from_yaml);
  CHECK(mrf::model_sha256(from_h5) == mrf::model_sha256(from_yaml));
  // .yml works too; a flat coefficient list is one shared row.
  const auto yml = dir.write("m.yml",
                             "num_vars: 2\nfactors:\n  w: {vars: [[0, 1]], exponents: [[2, 0], "
                             "[0, 2]], coeffs: [1.5, 2]}\n");
  const auto small = mrf::read_model(yml);
  CHECK(small.app == "generic");
  CHECK(small.families[0].coeffs.rows() == 1);
  CHECK(small.families[0].coeffs(0, 1) == 2.0);
}

TEST_CASE("model_io: model_sha256 covers the factor data only") {
  auto model = sample_model();
  const auto base = mrf::model_sha256(model);
  CHECK(base.size() == 64);
  auto other = model;
  other.x0.setZero();
  other.app = "sfs";
  CHECK(mrf::model_sha256(other) == base);
  std::swap(other.families[0], other.families[2]);  // order-independent
  CHECK(mrf::model_sha256(other) == base);
  other = model;
  other.families[1].coeffs(1, 2) = std::nextafter(other.families[1].coeffs(1, 2), 10.0);
  CHECK(mrf::model_sha256(other) != base);
  other = model;
  other.families[0].vars(2, 0) = 3;
  CHECK(mrf::model_sha256(other) != base);
}

TEST_CASE("model_io: missing or unreadable input is InputError (66)") {
  TempDir dir;
  expect_read_error<effinfer::InputError>(dir.file("absent.h5"), {"absent.h5"});
  expect_read_error<effinfer::InputError>(dir.file("absent.yaml"), {"absent.yaml"});
  expect_read_error<effinfer::InputError>(dir.write("text.h5", "not hdf5\n"), {"text.h5"});
  try {
    mrf::read_model(dir.file("absent.h5"));
  } catch (const effinfer::Error& e) {
    CHECK(e.exit_code() == 66);
  }
}

TEST_CASE("model_io: effinfer_schema missing or unknown lists the accepted ones") {
  TempDir dir;
  expect_read_error<effinfer::DataError>(write_parts(dir, "", {}, false),
                                         {"parts.h5", "effinfer_schema", "mrf-cccp/model/1"});
  const auto path = write_parts(dir, "", [](io::H5File& f) {
    f.set_attribute("/", "effinfer_schema", "mrf-cccp/recon3d/1");
  });
  expect_read_error<effinfer::DataError>(path, {"mrf-cccp/recon3d/1", "mrf-cccp/model/1"});
  try {
    mrf::read_model(path);
  } catch (const effinfer::Error& e) {
    CHECK(e.exit_code() == 65);
  }
}

TEST_CASE("model_io: /factors missing or empty") {
  TempDir dir;
  {
    const auto path = dir.file("nofactors.h5");
    auto f = io::H5File::create(path);
    f.set_attribute("/", "effinfer_schema", mrf::kModelSchema);
    f.set_attribute("/", "num_vars", int64_t{4});
    f.close();
    expect_read_error<effinfer::DataError>(path, {"nofactors.h5", "/factors"});
  }
  {
    const auto path = dir.file("empty.h5");
    auto f = io::H5File::create(path);
    f.set_attribute("/", "effinfer_schema", mrf::kModelSchema);
    f.set_attribute("/", "num_vars", int64_t{4});
    f.create_group("/factors");
    f.close();
    expect_read_error<effinfer::DataError>(path, {"/factors", "at least one"});
  }
  expect_error<effinfer::DataError>(
      [] { mrf::parse_model_yaml("num_vars: 3\nfactors: {}\n", "y"); }, {"factors"});
}

TEST_CASE("model_io: a family without vars, exponents or coeffs") {
  TempDir dir;
  for (const std::string name : {"vars", "exponents", "coeffs"})
    expect_read_error<effinfer::DataError>(write_parts(dir, name),
                                           {"parts.h5", "missing dataset /factors/edge/" + name});
  expect_error<effinfer::DataError>(
      [] {
        mrf::parse_model_yaml(
            "num_vars: 3\nfactors:\n  edge: {vars: [[0, 1]], exponents: [[1, 1]]}\n", "m.yaml");
      },
      {"m.yaml", "missing key factors.edge.coeffs"});
}

TEST_CASE("model_io: wrong dtype or rank") {
  TempDir dir;
  expect_read_error<effinfer::DataError>(write_parts(dir, "vars",
                                                     [](io::H5File& f) {
                                                       io::RowMatrixXd v(3, 2);
                                                       v << 0, 1, 1, 2, 2, 3;
                                                       f.write_matrix("/factors/edge/vars", v);
                                                     }),
                                         {"/factors/edge/vars", "wrong dtype", "float64 (3, 2)"});
  expect_read_error<effinfer::DataError>(write_parts(dir, "exponents",
                                                     [](io::H5File& f) {
                                                       f.write_matrix("/factors/edge/exponents",
                                                                      io::RowMatrixXd::Ones(6, 2));
                                                     }),
                                         {"/factors/edge/exponents", "wrong dtype"});
  expect_read_error<effinfer::DataError>(
      write_parts(dir, "coeffs",
                  [](io::H5File& f) {
                    f.write_strings("/factors/edge/coeffs", {"a", "b"});
                  }),
      {"/factors/edge/coeffs", "wrong dtype"});
  expect_read_error<effinfer::DataError>(
      write_parts(
          dir, "coeffs",
          [](io::H5File& f) { f.write_vector("/factors/edge/coeffs", Eigen::VectorXd::Ones(6)); }),
      {"/factors/edge/coeffs", "wrong rank", "(6,)"});
  expect_read_error<effinfer::DataError>(
      write_parts(dir, "vars",
                  [](io::H5File& f) {
                    f.write_int64("/factors/edge/vars", {0, 1, 2});
                  }),
      {"/factors/edge/vars", "wrong rank"});
  expect_read_error<effinfer::DataError>(write_parts(dir, "",
                                                     [](io::H5File& f) {
                                                       f.write_int64("/x0", {0, 1, 2, 3}, {2, 2});
                                                     }),
                                         {"/x0", "wrong rank"});
  expect_error<effinfer::DataError>(
      [] {
        mrf::parse_model_yaml(
            "num_vars: 3\nfactors:\n  e: {vars: [[0, 1.5]], exponents: [[1, 1]], coeffs: [1]}\n",
            "m.yaml");
      },
      {"factors.e.vars", "expected an integer", "1.5"});
}

TEST_CASE("model_io: coeffs not [F, M] or [1, M]") {
  TempDir dir;
  expect_read_error<effinfer::DataError>(
      write_parts(dir, "coeffs",
                  [](io::H5File& f) {
                    f.write_matrix("/factors/edge/coeffs", io::RowMatrixXd::Ones(2, 6));
                  }),
      {"/factors/edge/coeffs", "(3, 6)", "(1, 6)", "found (2, 6)"});
  expect_read_error<effinfer::DataError>(write_parts(dir, "coeffs",
                                                     [](io::H5File& f) {
                                                       f.write_matrix("/factors/edge/coeffs",
                                                                      io::RowMatrixXd::Ones(3, 5));
                                                     }),
                                         {"/factors/edge/coeffs", "found (3, 5)"});
}

TEST_CASE("model_io: exponents width differs from m") {
  TempDir dir;
  expect_read_error<effinfer::DataError>(
      write_parts(dir, "exponents",
                  [](io::H5File& f) {
                    f.write_int32("/factors/edge/exponents", std::vector<int32_t>(18, 1), {6, 3});
                  }),
      {"/factors/edge/exponents", "width", "found (6, 3)"});
}

TEST_CASE("model_io: linmap not [m, k] or [F, m, k]") {
  TempDir dir;
  expect_read_error<effinfer::DataError>(write_parts(dir, "",
                                                     [](io::H5File& f) {
                                                       f.write_matrix("/factors/edge/linmap",
                                                                      io::RowMatrixXd::Ones(2, 3));
                                                     }),
                                         {"/factors/edge/linmap", "(2, 2)", "found (2, 3)"});
  auto model = sample_model();
  model.families[1].linmap.conservativeResize(6, 3);  // 3 stacked maps for 2 factors
  model.families[1].linmap.bottomRows(2).setOnes();
  auto file_path = dir.file("rank3.h5");
  {
    // Written as (3, 2, 3) while F = 2.
    auto f = io::H5File::create(file_path);
    mrf::write_model(f, model);
  }
  expect_read_error<effinfer::DataError>(file_path, {"/factors/tri/linmap", "(2, 2, 3)"});
  expect_read_error<effinfer::DataError>(
      write_parts(
          dir, "",
          [](io::H5File& f) { f.write_vector("/factors/edge/linmap", Eigen::VectorXd::Ones(4)); }),
      {"/factors/edge/linmap", "wrong rank"});
}

TEST_CASE("model_io: NaN or Inf in coeffs, linmap, x0 names the first index") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto model = sample_model();
  model.families[1].coeffs(1, 2) = nan;
  model.families[1].coeffs(1, 4) = inf;
  expect_read_error<effinfer::DataError>(write_h5(dir, "c.h5", model),
                                         {"c.h5", "/factors/tri/coeffs", "nan", "(1, 2)"});
  model = sample_model();
  model.families[1].linmap(3, 1) = -inf;
  expect_read_error<effinfer::DataError>(write_h5(dir, "l.h5", model),
                                         {"/factors/tri/linmap", "inf", "(1, 1, 1)"});
  model = sample_model();
  model.x0[3] = nan;
  expect_read_error<effinfer::DataError>(write_h5(dir, "x.h5", model), {"/x0", "index 3"});
  model = sample_model();
  model.families[0].coeffs(0, 5) = inf;
  const auto yaml = dir.write("c.yaml", to_yaml(model));
  expect_read_error<effinfer::DataError>(yaml, {"c.yaml", "factors.edge.coeffs", "(0, 5)"});
}

TEST_CASE("model_io: variable ids out of range or repeated in a row") {
  TempDir dir;
  auto model = sample_model();
  model.families[0].vars(1, 1) = -1;
  expect_read_error<effinfer::DataError>(write_h5(dir, "neg.h5", model),
                                         {"/factors/edge/vars", "-1", "(1, 1)", "num_vars = 6"});
  model = sample_model();
  model.families[2].vars(1, 0) = 6;
  expect_read_error<effinfer::DataError>(write_h5(dir, "big.h5", model),
                                         {"/factors/unary/vars", "found 6", "(1, 0)"});
  model = sample_model();
  model.families[1].vars(1, 2) = 3;
  expect_read_error<effinfer::DataError>(write_h5(dir, "rep.h5", model),
                                         {"/factors/tri/vars", "distinct", "3 repeated in row 1"});
}

TEST_CASE("model_io: x0 length differs from num_vars") {
  TempDir dir;
  auto model = sample_model();
  model.x0 = Eigen::VectorXd::Zero(5);
  expect_read_error<effinfer::DataError>(write_h5(dir, "x.h5", model),
                                         {"x.h5", "/x0", "num_vars = 6", "found 5"});
  model = sample_model();
  model.truth = Eigen::VectorXd::Zero(7);
  expect_read_error<effinfer::DataError>(write_h5(dir, "t.h5", model), {"/truth/x", "found 7"});
  model = sample_model();
  model.x0 = Eigen::VectorXd::Zero(2);
  expect_read_error<effinfer::DataError>(dir.write("x.yaml", to_yaml(model)), {"x0", "found 2"});
}

TEST_CASE("model_io: negative exponent") {
  TempDir dir;
  auto model = sample_model();
  model.families[0].exponents(4, 1) = -2;
  expect_read_error<effinfer::DataError>(write_h5(dir, "e.h5", model),
                                         {"/factors/edge/exponents", ">= 0", "-2", "(4, 1)"});
}

TEST_CASE("model_io: attr degree different from the table's degree") {
  TempDir dir;
  expect_read_error<effinfer::DataError>(
      write_parts(dir, "",
                  [](io::H5File& f) { f.set_attribute("/factors/edge", "degree", int64_t{4}); }),
      {"/factors/edge (attr degree)", "degree 4", "degree 2"});
  // The matching degree is accepted.
  const auto ok = mrf::read_model(write_parts(
      dir, "", [](io::H5File& f) { f.set_attribute("/factors/edge", "degree", int64_t{2}); }));
  CHECK(ok.families.size() == 1);
}

TEST_CASE("model_io: YAML syntax and unknown keys are ConfigError with line:col") {
  expect_error<effinfer::ConfigError>(
      [] { mrf::parse_model_yaml("num_vars: 3\nfactors: [1, 2\n", "bad.yaml"); },
      {"bad.yaml:", "YAML syntax"});
  expect_error<effinfer::ConfigError>(
      [] {
        mrf::parse_model_yaml(
            "num_vars: 3\nfactors:\n  e:\n    vars: [[0, 1]]\n    exponents: [[1, 1]]\n"
            "    coefs: [1]\n",
            "bad.yaml");
      },
      {"bad.yaml:6:5", "factors.e.coefs", "nearest valid key: 'factors.e.coeffs'"});
  expect_error<effinfer::DataError>(
      [] { mrf::parse_model_yaml("num_vars: 3\napp: [sfs]\nfactors: {}\n", "bad.yaml"); },
      {"bad.yaml:2:6"});
  expect_error<effinfer::ConfigError>(
      [] { mrf::parse_model_yaml("num_var: 3\nfactors: {}\n", "bad.yaml"); },
      {"bad.yaml:1:1", "'num_var'", "'num_vars'"});
}

TEST_CASE("model_io: validate_model checks in-memory models") {
  auto model = sample_model();
  CHECK_NOTHROW(mrf::validate_model(model, "mem"));
  model.families[2].coeffs.resize(2, 6);
  model.families[2].coeffs.setOnes();
  expect_error<effinfer::DataError>([&] { mrf::validate_model(model, "mem"); },
                                    {"mem:/factors/unary/coeffs", "found (2, 6)"});
}

TEST_SUITE_END();
