// Strict YAML configuration: a tool's default.yaml defines every valid key; user files (-c) and
// --set key.path=value overrides are merged over it. Unknown keys, syntax errors and wrong types
// are ConfigError (78) naming the key, the nearest valid key and the file:line:col.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace effinfer::io {

class Config {
 public:
  // defaults_yaml is the tool's embedded configs/<tool>/default.yaml.
  static Config from_defaults(const std::string& defaults_yaml);

  // Merges a YAML file over the current values ("-" reads stdin). InputError (66) when missing.
  void merge_file(const std::string& path);
  void merge_text(const std::string& text, const std::string& source_name);
  // Applies "key.path=value"; value is parsed as YAML (scalar, [list] or {map}).
  void set(const std::string& assignment);

  bool has(const std::string& key) const;  // a valid key (present in the defaults)
  YAML::Node node(const std::string& key) const;  // ConfigError when the key is unknown
  bool is_null(const std::string& key) const;
  double get_double(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<double> get_doubles(const std::string& key) const;  // a scalar gives one entry
  std::vector<std::string> get_strings(const std::string& key) const;

  // Where a key's value came from: "file.yaml:3:7", "--set", or "defaults".
  std::string origin(const std::string& key) const;
  // A ConfigError whose message starts "<key> (<origin>): ".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  std::string dump() const;    // the resolved configuration as YAML
  std::string sha256() const;  // of dump()

 private:
  void merge_node(YAML::Node target, const YAML::Node& source, const std::string& prefix,
                  const std::string& source_name);
  YAML::Node root_;
  std::map<std::string, std::string> origin_;
};

// Levenshtein-nearest candidate (for "did you mean").
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace effinfer::io
