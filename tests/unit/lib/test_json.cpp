// Json: the summary-line value. Expected texts follow RFC 8259 (JSON grammar and string escapes);
// a full document is also parsed by Python's json module when /usr/bin/python3 exists.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "core/json.hpp"

namespace effinfer {
namespace {

// RFC 8259 section 6: number = [ minus ] int [ frac ] [ exp ].
bool is_json_number(const std::string& s) {
  static const std::regex number(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
  return std::regex_match(s, number);
}

TEST_CASE("json: scalars") {
  CHECK(Json().dump() == "null");
  CHECK(Json(nullptr).dump() == "null");
  CHECK(Json(true).dump() == "true");
  CHECK(Json(false).dump() == "false");
  CHECK(Json(0).dump() == "0");
  CHECK(Json(-17).dump() == "-17");
  CHECK(Json(std::numeric_limits<int64_t>::max()).dump() == "9223372036854775807");
  CHECK(Json(std::numeric_limits<int64_t>::min()).dump() == "-9223372036854775808");
  CHECK(Json(size_t{4000000000}).dump() == "4000000000");
  CHECK(Json(0.5).dump() == "0.5");
  CHECK(Json(-2.25).dump() == "-2.25");
  CHECK(Json(0.1).dump() == "0.1");
  // A string literal must not decay to bool.
  CHECK(Json("text").dump() == "\"text\"");
  CHECK(Json(std::string("s")).dump() == "\"s\"");
}

TEST_CASE("json: non-finite doubles become null") {
  CHECK(Json(std::nan("")).dump() == "null");
  CHECK(Json(std::numeric_limits<double>::infinity()).dump() == "null");
  CHECK(Json(-std::numeric_limits<double>::infinity()).dump() == "null");
}

TEST_CASE("json: every finite double is printed as a valid JSON number") {
  const double values[] = {0.0,
                           -0.0,
                           1.0,
                           3.0,
                           1e300,
                           -1e-300,
                           1e-5,
                           123456789012.0,
                           6.02214076e23,
                           5e-324,
                           -1.5e-7,
                           1e21,
                           0.3333333333333333};
  for (double v : values) {
    const std::string text = Json(v).dump();
    CAPTURE(text);
    CHECK(is_json_number(text));
    // Within the printed precision (10 significant digits) of the value.
    CHECK(std::strtod(text.c_str(), nullptr) == doctest::Approx(v).epsilon(1e-9));
  }
}

TEST_CASE("json: string escapes") {
  CHECK(json_escape("plain") == "\"plain\"");
  CHECK(json_escape("a\"b") == "\"a\\\"b\"");
  CHECK(json_escape("back\\slash") == "\"back\\\\slash\"");
  CHECK(json_escape("l1\nl2\r\t") == "\"l1\\nl2\\r\\t\"");
  CHECK(json_escape(std::string("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
  CHECK(json_escape(std::string("a\0b", 3)) == "\"a\\u0000b\"");
  // UTF-8 passes through unchanged; DEL needs no escape in JSON.
  CHECK(json_escape("\xc3\xa9\x7f") == "\"\xc3\xa9\x7f\"");
  CHECK(Json("tab\there").dump() == "\"tab\\there\"");
}

TEST_CASE("json: objects keep insertion order; set replaces in place") {
  Json o = Json::object();
  CHECK(o.is_object());
  CHECK(o.dump() == "{}");
  o.set("zeta", 1).set("alpha", "x").set("mid", Json::Array{});
  CHECK(o.dump() == "{\"zeta\":1,\"alpha\":\"x\",\"mid\":[]}");
  o.set("alpha", false);
  CHECK(o.dump() == "{\"zeta\":1,\"alpha\":false,\"mid\":[]}");
  CHECK(o.has("zeta"));
  CHECK(o.has("mid"));
  CHECK_FALSE(o.has("Zeta"));
  CHECK_FALSE(Json(3).has("zeta"));
  CHECK_FALSE(Json(3).is_object());
  Json q = Json::object();
  q.set("key \"quoted\"", 2);
  CHECK(q.dump() == "{\"key \\\"quoted\\\"\":2}");
}

TEST_CASE("json: arrays and nesting") {
  CHECK(Json(Json::Array{}).dump() == "[]");
  CHECK(Json::array_of(std::vector<double>{1.5, 2, NAN}).dump() == "[1.5,2,null]");
  CHECK(Json::array_of(std::vector<int>{3, -4}).dump() == "[3,-4]");
  CHECK(Json::array_of(std::vector<std::string>{"a", "b"}).dump() == "[\"a\",\"b\"]");
  Json a(Json::Array{});
  a.push_back(1);
  a.push_back(Json::object().set("k", Json::Array{Json(nullptr), Json(true)}));
  CHECK(a.dump() == "[1,{\"k\":[null,true]}]");
  Json error = Json::object();
  error.set("kind", "data").set("message", "f.h5:/y: expected rank 1 (N,), found float64 (3, 4)");
  Json line = Json::object();
  line.set("tool", "t").set("exit_code", 65).set("error", error);
  CHECK(line.dump() ==
        "{\"tool\":\"t\",\"exit_code\":65,\"error\":{\"kind\":\"data\",\"message\":\"f.h5:/y: "
        "expected rank 1 (N,), found float64 (3, 4)\"}}");
}

TEST_CASE("json: unsigned values above INT64_MAX are not printed negative") {
  // Regression: Json(unsigned long) used to cast to int64_t, printing 2^64 - 1 as -1.
  const std::string text = Json(std::numeric_limits<unsigned long>::max()).dump();
  CAPTURE(text);
  CHECK(text == "18446744073709551615");
  CHECK(Json(uint64_t{1} << 63).dump() == "9223372036854775808");
  CHECK(Json(std::numeric_limits<unsigned long long>::max()).dump() == "18446744073709551615");
  CHECK(Json(4000000000u).dump() == "4000000000");
}

TEST_CASE("json: a full summary line parses with Python's json module") {
  if (access("/usr/bin/python3", X_OK) != 0) {
    MESSAGE("SKIPPED: /usr/bin/python3 not found");
    return;
  }
  Json line = Json::object();
  line.set("tool", "psytrack-fit").set("status", "ok").set("wall_s", 0.125);
  line.set("nan", std::nan("")).set("text", std::string("q\"\\\n\x01\xc3\xa9"));
  line.set("list", Json::array_of(std::vector<double>{1e-300, -0.0, 1e300}));
  const auto dir =
      std::filesystem::temp_directory_path() / ("effinfer_unit_json_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "line.json");
    out << line.dump() << "\n";
    std::ofstream check(dir / "check.py");
    check << "import json, sys\n"
             "d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
             "ok = d['nan'] is None and d['text'] == 'q\"\\\\\\n\\x01\\u00e9' "
             "and d['list'] == [1e-300, 0.0, 1e300] and d['wall_s'] == 0.125\n"
             "sys.exit(0 if ok else 3)\n";
  }
  const std::string command =
      "/usr/bin/python3 " + (dir / "check.py").string() + " " + (dir / "line.json").string();
  const int status = std::system(command.c_str());
  std::filesystem::remove_all(dir);
  CHECK(status == 0);
}

}  // namespace
}  // namespace effinfer
