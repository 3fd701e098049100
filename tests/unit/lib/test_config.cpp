// Strict YAML configuration (lib/io/config.hpp): defaults define the valid keys; files and --set
// merge over them; unknown keys, syntax errors and wrong types are ConfigError (78) naming the key,
// the nearest valid key and file:line:col (DESIGN.md "Exit codes"). Expected line:col positions
// are those of the offending token in the literal YAML below (1-based).
#include <doctest/doctest.h>

#include "test_support.hpp"
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "io/config.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

const char* const kDefaults =
    "seed: 0\n"
    "name: run\n"
    "optional: ~\n"
    "model:\n"
    "  sigma: 0.5\n"
    "  weights: [bias, stimulus]\n"
    "  fit:\n"
    "    tol: 1.0e-6\n"
    "    max_iter: 100\n"
    "    verbose: false\n";

// A fresh folder under the system temp directory, removed with its contents at scope exit.
using effinfer::test::TempDir;

// Runs f, requires a ConfigError, and returns its message.
template <class F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    CHECK(e.exit_code() == 78);
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("expected ConfigError, got: " << std::string(e.what()));
    return {};
  }
  FAIL_CHECK("expected ConfigError, nothing thrown");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("config: defaults give typed values") {
  const Config c = Config::from_defaults(kDefaults);
  CHECK(c.get_int("seed") == 0);
  CHECK(c.get_string("name") == "run");
  CHECK(c.is_null("optional"));
  CHECK(c.get_strings("optional").empty());
  CHECK(c.get_double("model.sigma") == 0.5);
  CHECK(c.get_strings("model.weights") == std::vector<std::string>{"bias", "stimulus"});
  CHECK(c.get_double("model.fit.tol") == 1.0e-6);
  CHECK(c.get_int("model.fit.max_iter") == 100);
  CHECK_FALSE(c.get_bool("model.fit.verbose"));
  CHECK(c.get_doubles("model.sigma") == std::vector<double>{0.5});  // a scalar gives one entry
  CHECK(c.has("model"));
  CHECK(c.has("model.fit.tol"));
  CHECK_FALSE(c.has("model.fit.tolx"));
  CHECK_FALSE(c.has("model.sigma.x"));
  CHECK_FALSE(c.has("nothing"));
  CHECK(c.origin("model.sigma") == "defaults");
}

TEST_CASE("config: invalid defaults are an internal error") {
  CHECK_THROWS_AS(Config::from_defaults("a: [1,\n"), InternalError);
  CHECK_THROWS_AS(Config::from_defaults("- 1\n- 2\n"), InternalError);
}

TEST_CASE("config: a file merges over the defaults and keeps untouched defaults") {
  TempDir dir;
  const std::string file = dir.write("user.yaml",
                                     "model:\n"
                                     "  fit:\n"
                                     "    max_iter: 250\n"
                                     "seed: 7\n");
  Config c = Config::from_defaults(kDefaults);
  c.merge_file(file);
  CHECK(c.get_int("model.fit.max_iter") == 250);
  CHECK(c.get_int("seed") == 7);
  // Untouched siblings at every level keep their defaults.
  CHECK(c.get_double("model.fit.tol") == 1.0e-6);
  CHECK_FALSE(c.get_bool("model.fit.verbose"));
  CHECK(c.get_double("model.sigma") == 0.5);
  CHECK(c.get_strings("model.weights") == std::vector<std::string>{"bias", "stimulus"});
  CHECK(c.get_string("name") == "run");
  // Origins point at the value in the file (line:col 1-based).
  CHECK(c.origin("model.fit.max_iter") == file + ":3:15");
  CHECK(c.origin("seed") == file + ":4:7");
  CHECK(c.origin("model.sigma") == "defaults");
  // A second file changes only its own keys.
  c.merge_file(dir.write("second.yaml", "model: {sigma: 0.25}\n"));
  CHECK(c.get_double("model.sigma") == 0.25);
  CHECK(c.get_int("model.fit.max_iter") == 250);
  CHECK(c.get_int("seed") == 7);
}

TEST_CASE("config: \"-\" reads standard input") {
  std::istringstream input("model:\n  sigma: 3.5\n");
  std::streambuf* saved = std::cin.rdbuf(input.rdbuf());
  Config c = Config::from_defaults(kDefaults);
  try {
    c.merge_file("-");
  } catch (...) {
    std::cin.rdbuf(saved);
    throw;
  }
  std::cin.rdbuf(saved);
  CHECK(c.get_double("model.sigma") == 3.5);
  CHECK(c.origin("model.sigma") == "<stdin>:2:10");
}

TEST_CASE("config: empty files change nothing; missing files are InputError") {
  TempDir dir;
  Config c = Config::from_defaults(kDefaults);
  const std::string before = c.dump();
  c.merge_file(dir.write("empty.yaml", ""));
  c.merge_file(dir.write("comment.yaml", "# nothing here\n"));
  CHECK(c.dump() == before);
  try {
    c.merge_file((dir.path() / "absent.yaml").string());
    FAIL_CHECK("no InputError");
  } catch (const InputError& e) {
    CHECK(e.exit_code() == 66);
    CHECK(contains(e.what(), "absent.yaml"));
  }
}

TEST_CASE("config: unknown keys name the key, the nearest valid key and file:line:col") {
  TempDir dir;
  Config c = Config::from_defaults(kDefaults);
  const std::string nested = dir.write("nested.yaml",
                                       "seed: 1\n"
                                       "model:\n"
                                       "  fit:\n"
                                       "    tolerance: 1e-8\n");
  std::string m = config_error([&] { c.merge_file(nested); });
  CAPTURE(m);
  CHECK(contains(m, "model.fit.tolerance"));
  CHECK(contains(m, "'model.fit.tol'"));
  CHECK(contains(m, nested + ":4:5"));

  const std::string top = dir.write("top.yaml", "name: x\nsed: 3\n");
  m = config_error([&] { c.merge_file(top); });
  CHECK(contains(m, "'sed'"));
  CHECK(contains(m, "'seed'"));
  CHECK(contains(m, top + ":2:1"));

  m = config_error([&] { c.merge_text("model:\n  Weight: [a]\n", "inline.yaml"); });
  CHECK(contains(m, "model.Weight"));
  CHECK(contains(m, "'model.weights'"));
  CHECK(contains(m, "inline.yaml:2:3"));
}

TEST_CASE("config: YAML syntax errors give file:line:col") {
  TempDir dir;
  Config c = Config::from_defaults(kDefaults);
  // The second ':' on line 3 (column 5) is an illegal map value.
  const std::string bad = dir.write("bad.yaml", "seed: 1\nname: x\nc: d: e\n");
  std::string m = config_error([&] { c.merge_file(bad); });
  CAPTURE(m);
  CHECK(contains(m, bad + ":3:5"));
  // A tab used for indentation at line 2, column 1.
  m = config_error([&] { c.merge_text("seed: 1\n\tname: x\n", "tab.yaml"); });
  CHECK(contains(m, "tab.yaml:2:1"));
}

TEST_CASE("config: structure mismatches are ConfigError naming the key") {
  Config c = Config::from_defaults(kDefaults);
  std::string m = config_error([&] { c.merge_text("- 1\n- 2\n", "list.yaml"); });
  CHECK(contains(m, "list.yaml:1:1"));
  CHECK(contains(m, "mapping"));
  m = config_error([&] { c.merge_text("name: x\nmodel: 3\n", "scalar.yaml"); });
  CHECK(contains(m, "model"));
  CHECK(contains(m, "scalar.yaml:2:8"));
}

TEST_CASE("config: --set with nested keys, lists and mappings") {
  Config c = Config::from_defaults(kDefaults);
  c.set("model.fit.max_iter=250");
  CHECK(c.get_int("model.fit.max_iter") == 250);
  c.set("model.weights=[bias, stimulus, previous]");
  CHECK(c.get_strings("model.weights") == std::vector<std::string>{"bias", "stimulus", "previous"});
  c.set("model.sigma=[0.1, 0.2, 4]");
  CHECK(c.get_doubles("model.sigma") == std::vector<double>{0.1, 0.2, 4});
  c.set("model={fit: {verbose: true}}");
  CHECK(c.get_bool("model.fit.verbose"));
  CHECK(c.get_int("model.fit.max_iter") == 250);  // the mapping merged, did not replace
  c.set("optional=text with spaces");
  CHECK(c.get_string("optional") == "text with spaces");
  c.set("optional=");
  CHECK(c.is_null("optional"));
  c.set("name=a=b");  // only the first '=' separates key and value
  CHECK(c.get_string("name") == "a=b");
  // Later --set wins.
  c.set("seed=1");
  c.set("seed=2");
  CHECK(c.get_int("seed") == 2);
}

TEST_CASE("config: --set errors") {
  Config c = Config::from_defaults(kDefaults);
  std::string m = config_error([&] { c.set("model.fit.tolx=1"); });
  CHECK(contains(m, "model.fit.tolx"));
  CHECK(contains(m, "'model.fit.tol'"));
  CHECK(contains(m, "--set"));
  m = config_error([&] { c.set("model.sigma"); });
  CHECK(contains(m, "model.sigma"));
  config_error([&] { c.set("=3"); });
  m = config_error([&] { c.set("model.sigma=[1,"); });
  CHECK(contains(m, "model.sigma"));
  m = config_error([&] { c.set("model=3"); });
  CHECK(contains(m, "model"));
  CHECK(contains(m, "mapping"));
}

TEST_CASE("config: origin of a --set value is \"--set\"") {
  // Regression: the value's mark in its own one-line document used to give "--set:1:1".
  Config c = Config::from_defaults(kDefaults);
  c.set("model.sigma=2");
  CHECK(c.origin("model.sigma") == "--set");
}

TEST_CASE("config: type errors name the key and where the value came from") {
  Config c = Config::from_defaults(kDefaults);
  c.merge_text("model:\n  fit:\n    max_iter: lots\n", "user.yaml");
  std::string m = config_error([&] { c.get_int("model.fit.max_iter"); });
  CAPTURE(m);
  CHECK(m.rfind("model.fit.max_iter (user.yaml:3:15): ", 0) == 0);
  CHECK(contains(m, "lots"));

  c.set("model.fit.max_iter=2.5");
  m = config_error([&] { c.get_int("model.fit.max_iter"); });
  CHECK(contains(m, "model.fit.max_iter"));
  c.set("model.fit.max_iter=3.0");
  CHECK(c.get_int("model.fit.max_iter") == 3);

  c.set("model.fit.tol=[1, 2]");
  m = config_error([&] { c.get_double("model.fit.tol"); });
  CHECK(contains(m, "model.fit.tol"));
  c.set("model.fit.verbose=maybe");
  m = config_error([&] { c.get_bool("model.fit.verbose"); });
  CHECK(contains(m, "model.fit.verbose"));
  CHECK(contains(m, "maybe"));
  m = config_error([&] { c.get_string("model"); });
  CHECK(contains(m, "model"));
  c.set("model.weights=[bias, [nested]]");
  m = config_error([&] { c.get_strings("model.weights"); });
  CHECK(contains(m, "model.weights"));
  CHECK(contains(m, "entry 1"));
  c.set("model.sigma=[0.1, x]");
  m = config_error([&] { c.get_doubles("model.sigma"); });
  CHECK(contains(m, "model.sigma"));
  CHECK(contains(m, "entry 1"));
  // A mapping where the defaults have a scalar is caught when the value is read.
  c.merge_text("seed: {x: 1}\n", "map.yaml");
  m = config_error([&] { c.get_int("seed"); });
  CHECK(m.rfind("seed (map.yaml:1:7): ", 0) == 0);
}

TEST_CASE("config: fail() prefixes key and origin") {
  Config c = Config::from_defaults(kDefaults);
  const std::string m = config_error([&] { c.fail("model.sigma", "must be positive"); });
  CHECK(m == "model.sigma (defaults): must be positive");
}

TEST_CASE("config: node() of a key missing from the defaults is a ConfigError") {
  // Regression: this used to be an InternalError, against config.hpp's contract.
  const Config c = Config::from_defaults(kDefaults);
  config_error([&] { c.node("model.fit.nope"); });
}

TEST_CASE("config: dump and sha256 are stable") {
  Config a = Config::from_defaults(kDefaults);
  const Config pristine = Config::from_defaults(kDefaults);
  CHECK(a.dump() == pristine.dump());
  CHECK(a.sha256() == pristine.sha256());
  CHECK(a.sha256() == sha256_hex(a.dump()));
  CHECK(a.sha256().size() == 64);

  // The same resolved values from different sources and orders give the same fingerprint.
  Config b = Config::from_defaults(kDefaults);
  a.merge_text("seed: 9\nmodel: {sigma: 0.75}\n", "f.yaml");
  b.set("model.sigma=0.75");
  b.set("seed=9");
  CHECK(a.dump() == b.dump());
  CHECK(a.sha256() == b.sha256());
  // A changed value changes it.
  b.set("seed=10");
  CHECK(a.sha256() != b.sha256());
  // The dump is valid YAML that reproduces the same configuration.
  const Config reloaded = Config::from_defaults(a.dump());
  CHECK(reloaded.dump() == a.dump());
  CHECK(reloaded.get_double("model.sigma") == 0.75);
  CHECK(reloaded.get_int("seed") == 9);
  CHECK(reloaded.get_strings("model.weights") == std::vector<std::string>{"bias", "stimulus"});
  // And it keeps the defaults' key order.
  const std::string d = a.dump();
  CHECK(d.find("seed") < d.find("name"));
  CHECK(d.find("name") < d.find("model"));
}

TEST_CASE("config: the fingerprint does not depend on the YAML style of a list") {
  // Regression: input node styles used to be kept, so a block-style list from a file and the same
  // flow list from --set dumped (and hashed) differently.
  Config a = Config::from_defaults(kDefaults);
  a.merge_text("model:\n  weights:\n    - x\n    - y\n", "block.yaml");
  Config b = Config::from_defaults(kDefaults);
  b.set("model.weights=[x, y]");
  CHECK(a.get_strings("model.weights") == b.get_strings("model.weights"));
  CHECK(a.sha256() == b.sha256());
}

TEST_CASE("config: nearest") {
  const std::vector<std::string> keys = {"seed", "name", "model", "max_iter"};
  CHECK(nearest("sed", keys) == "seed");
  CHECK(nearest("NAME", keys) == "name");  // case-insensitive
  CHECK(nearest("modle", keys) == "model");
  CHECK(nearest("maxiter", keys) == "max_iter");
  CHECK(nearest("x", {}).empty());
}

}  // namespace
}  // namespace effinfer::io
