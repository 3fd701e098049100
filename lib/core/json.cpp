#include "core/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace effinfer {

Json& Json::set(const std::string& key, Json value) {
  auto& obj = std::get<Object>(value_);
  for (auto& [k, v] : obj) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  obj.emplace_back(key, std::move(value));
  return *this;
}

bool Json::has(const std::string& key) const {
  if (!is_object()) return false;
  for (const auto& kv : std::get<Object>(value_))
    if (kv.first == key) return true;
  return false;
}

Json& Json::update(const Json& other) {
  for (const auto& [key, value] : std::get<Object>(other.value_)) set(key, value);
  return *this;
}

void Json::push_back(Json value) { std::get<Array>(value_).push_back(std::move(value)); }

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void Json::dump_to(std::string& out) const {
  if (std::holds_alternative<std::nullptr_t>(value_)) {
    out += "null";
  } else if (auto b = std::get_if<bool>(&value_)) {
    out += *b ? "true" : "false";
  } else if (auto i = std::get_if<int64_t>(&value_)) {
    out += std::to_string(*i);
  } else if (auto u = std::get_if<uint64_t>(&value_)) {
    out += std::to_string(*u);
  } else if (auto d = std::get_if<double>(&value_)) {
    if (!std::isfinite(*d)) {
      out += "null";
    } else {
      // Shortest text that reads back to the same double.
      char buf[32];
      const auto result = std::to_chars(buf, buf + sizeof buf, *d);
      out.append(buf, result.ptr);
    }
  } else if (auto s = std::get_if<std::string>(&value_)) {
    out += json_escape(*s);
  } else if (auto a = std::get_if<Array>(&value_)) {
    out += "[";
    for (size_t k = 0; k < a->size(); ++k) {
      if (k) out += ",";
      (*a)[k].dump_to(out);
    }
    out += "]";
  } else {
    const auto& o = std::get<Object>(value_);
    out += "{";
    for (size_t k = 0; k < o.size(); ++k) {
      if (k) out += ",";
      out += json_escape(o[k].first);
      out += ":";
      o[k].second.dump_to(out);
    }
    out += "}";
  }
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

}  // namespace effinfer
