// A small JSON value for the one summary line each tool prints (keys keep insertion order;
// NaN and infinities become null, as DESIGN.md asks).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace effinfer {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() : value_(nullptr) {}
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool b) : value_(b) {}
  Json(int v) : value_(static_cast<int64_t>(v)) {}
  Json(long v) : value_(static_cast<int64_t>(v)) {}
  Json(long long v) : value_(static_cast<int64_t>(v)) {}
  Json(unsigned v) : value_(static_cast<int64_t>(v)) {}
  Json(unsigned long v) : value_(static_cast<uint64_t>(v)) {}
  Json(unsigned long long v) : value_(static_cast<uint64_t>(v)) {}
  Json(double v) : value_(v) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(Array a) : value_(std::move(a)) {}
  Json(Object o) : value_(std::move(o)) {}
  template <class T>
  static Json array_of(const T& values) {
    Array a;
    for (const auto& v : values) a.emplace_back(v);
    return Json(std::move(a));
  }
  static Json object() { return Json(Object{}); }

  // Sets (or replaces) a key of an object.
  Json& set(const std::string& key, Json value);
  bool has(const std::string& key) const;
  // Sets every key of another object on this one (in the other's order).
  Json& update(const Json& other);
  void push_back(Json value);  // for arrays
  bool is_object() const { return std::holds_alternative<Object>(value_); }

  std::string dump() const;

 private:
  void dump_to(std::string& out) const;
  std::variant<std::nullptr_t, bool, int64_t, uint64_t, double, std::string, Array, Object> value_;
};

std::string json_escape(const std::string& s);

}  // namespace effinfer
