#include "io/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/error.hpp"
#include "core/sha256.hpp"

namespace effinfer::io {
namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream in(key);
  std::string part;
  while (std::getline(in, part, '.')) parts.push_back(part);
  return parts;
}

std::string mark_text(const std::string& source, const YAML::Mark& mark) {
  // A --set value is its own one-line document: its position says nothing.
  if (mark.line < 0 || source == "--set") return source;
  return source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::vector<std::string> map_keys(const YAML::Node& map) {
  std::vector<std::string> keys;
  if (map.IsMap())
    for (const auto& kv : map) keys.push_back(kv.first.as<std::string>());
  return keys;
}

std::string describe(const YAML::Node& node) {
  if (!node || node.IsNull()) return "null";
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  return "a mapping";
}

}  // namespace

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& c : candidates) {
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        const size_t up = row[j];
        const size_t cost = std::tolower(word[i - 1]) == std::tolower(c[j - 1]) ? 0 : 1;
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
        diagonal = up;
      }
    }
    if (row[c.size()] < best_distance) {
      best_distance = row[c.size()];
      best = c;
    }
  }
  return best;
}

Config Config::from_defaults(const std::string& defaults_yaml) {
  Config config;
  try {
    config.root_ = YAML::Load(defaults_yaml);
  } catch (const YAML::Exception& e) {
    throw InternalError("built-in default configuration is not valid YAML: " + e.msg);
  }
  if (!config.root_.IsMap()) throw InternalError("built-in default configuration is not a mapping");
  return config;
}

void Config::merge_node(YAML::Node target, const YAML::Node& source, const std::string& prefix,
                        const std::string& source_name) {
  if (!source.IsMap()) {
    throw ConfigError((prefix.empty() ? std::string("configuration") : prefix) + " (" +
                      mark_text(source_name, source.Mark()) + "): expected a mapping, found " +
                      describe(source));
  }
  for (const auto& kv : source) {
    const std::string key = kv.first.as<std::string>();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!target[key]) {
      const auto keys = map_keys(target);
      std::string message = "unknown key '" + path + "' (" + mark_text(source_name, kv.first.Mark()) + ")";
      if (!keys.empty()) {
        const std::string near = nearest(key, keys);
        message += "; nearest valid key: '" + (prefix.empty() ? near : prefix + "." + near) + "'";
      }
      throw ConfigError(message);
    }
    YAML::Node current = target[key];
    if (current.IsMap()) {
      merge_node(current, kv.second, path, source_name);
    } else {
      target[key] = YAML::Clone(kv.second);
      origin_[path] = mark_text(source_name, kv.second.Mark());
    }
  }
}

void Config::merge_text(const std::string& text, const std::string& source_name) {
  YAML::Node user;
  try {
    user = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(mark_text(source_name, e.mark) + ": YAML syntax error: " + e.msg);
  }
  if (!user || user.IsNull()) return;  // an empty file changes nothing
  merge_node(root_, user, "", source_name);
}

void Config::merge_file(const std::string& path) {
  std::string text;
  if (path == "-") {
    std::stringstream buffer;
    buffer << std::cin.rdbuf();
    text = buffer.str();
  } else {
    std::ifstream in(path);
    if (!in) throw InputError(path + ": cannot read configuration file");
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  merge_text(text, path == "-" ? "<stdin>" : path);
}

void Config::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + assignment + "': expected key.path=value");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value.empty() ? "null" : value);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("--set " + key + ": value '" + value + "' is not valid YAML: " + e.msg);
  }
  // Build {a: {b: value}} and merge it so unknown keys get the same message as in files.
  YAML::Node wrapper = parsed;
  const auto parts = split_key(key);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    YAML::Node level(YAML::NodeType::Map);
    level[*it] = wrapper;
    wrapper = level;
  }
  merge_node(root_, wrapper, "", "--set");
}

bool Config::has(const std::string& key) const {
  YAML::Node node = YAML::Clone(root_);
  for (const auto& part : split_key(key)) {
    if (!node.IsMap() || !node[part]) return false;
    node = node[part];
  }
  return true;
}

YAML::Node Config::node(const std::string& key) const {
  YAML::Node node = root_;
  std::string prefix;
  for (const auto& part : split_key(key)) {
    if (!node.IsMap() || !node[part]) {
      throw ConfigError("configuration key '" + key + "' is not defined in the defaults");
    }
    node.reset(node[part]);
    prefix += (prefix.empty() ? "" : ".") + part;
  }
  return node;
}

std::string Config::origin(const std::string& key) const {
  auto it = origin_.find(key);
  return it == origin_.end() ? "defaults" : it->second;
}

void Config::fail(const std::string& key, const std::string& message) const {
  throw ConfigError(key + " (" + origin(key) + "): " + message);
}

bool Config::is_null(const std::string& key) const {
  const YAML::Node n = node(key);
  return !n || n.IsNull();
}

double Config::get_double(const std::string& key) const {
  const YAML::Node n = node(key);
  double value = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, value))
    fail(key, "expected a number, found " + describe(n));
  return value;
}

int64_t Config::get_int(const std::string& key) const {
  const YAML::Node n = node(key);
  double value = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, value) || value != std::round(value) ||
      std::fabs(value) > 9.0e15)
    fail(key, "expected an integer, found " + describe(n));
  return static_cast<int64_t>(value);
}

bool Config::get_bool(const std::string& key) const {
  const YAML::Node n = node(key);
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value))
    fail(key, "expected true or false, found " + describe(n));
  return value;
}

std::string Config::get_string(const std::string& key) const {
  const YAML::Node n = node(key);
  if (!n.IsScalar()) fail(key, "expected a string, found " + describe(n));
  return n.Scalar();
}

std::vector<double> Config::get_doubles(const std::string& key) const {
  const YAML::Node n = node(key);
  std::vector<double> values;
  double value = 0;
  if (n.IsScalar()) {
    if (!YAML::convert<double>::decode(n, value)) fail(key, "expected a number, found " + describe(n));
    values.push_back(value);
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar() || !YAML::convert<double>::decode(n[i], value))
        fail(key, "entry " + std::to_string(i) + ": expected a number, found " + describe(n[i]));
      values.push_back(value);
    }
  } else {
    fail(key, "expected a number or a list of numbers, found " + describe(n));
  }
  return values;
}

std::vector<std::string> Config::get_strings(const std::string& key) const {
  const YAML::Node n = node(key);
  std::vector<std::string> values;
  if (n.IsScalar()) {
    values.push_back(n.Scalar());
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar())
        fail(key, "entry " + std::to_string(i) + ": expected a string, found " + describe(n[i]));
      values.push_back(n[i].Scalar());
    }
  } else if (!n.IsNull()) {
    fail(key, "expected a list of strings, found " + describe(n));
  }
  return values;
}

namespace {
// Block style everywhere, so the same resolved values always dump (and hash) the same way
// whether they came from a flow list in a file or from --set.
void normalise_style(YAML::Node node) {
  if (node.IsMap() || node.IsSequence()) {
    node.SetStyle(YAML::EmitterStyle::Block);
    if (node.IsMap())
      for (auto kv : node) normalise_style(kv.second);
    else
      for (auto item : node) normalise_style(item);
  }
}
}  // namespace

std::string Config::dump() const {
  YAML::Node copy = YAML::Clone(root_);
  normalise_style(copy);
  YAML::Emitter out;
  out << copy;
  return std::string(out.c_str()) + "\n";
}

std::string Config::sha256() const { return sha256_hex(dump()); }

}  // namespace effinfer::io
