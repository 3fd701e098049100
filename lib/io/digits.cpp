#include "io/digits.hpp"

#include <zlib.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"

namespace effinfer::io {
namespace {

constexpr int kPixels = 64;
constexpr int kMaxPixel = 16;
constexpr int kClasses = 10;

// Whole (inflated) content of a gzip or plain file through zlib's gzFile API.
std::string read_all(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw InputError(path + ": file not found (apt-get install python3-sklearn)");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(path + ": is a directory, expected a file");
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw InputError(path + ": cannot open for reading");
  std::string out;
  char buf[1 << 16];
  int got;
  while ((got = gzread(f, buf, sizeof buf)) > 0) out.append(buf, got);
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  const std::string what = msg != nullptr ? msg : "zlib error";
  gzclose(f);
  if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
    if (err == Z_BUF_ERROR)
      throw DataError(path + ": truncated gzip data (unexpected end of file)");
    throw DataError(path + ": corrupt gzip data (" + what + ")");
  }
  return out;
}

// Parses an integer field, allowing a fractional part of zeros ("5", "5.0"); false otherwise.
bool parse_int(const char* begin, const char* end, long& value) {
  while (begin < end && (*begin == ' ' || *begin == '\t')) ++begin;
  while (end > begin && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) --end;
  if (begin == end) return false;
  const char* p = begin;
  bool negative = false;
  if (*p == '-' || *p == '+') negative = *p++ == '-';
  if (p == end || *p < '0' || *p > '9') return false;
  long v = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + (*p++ - '0');
    if (v > 1000000) return false;
  }
  if (p < end && *p == '.') {
    ++p;
    while (p < end && *p == '0') ++p;
  }
  if (p != end) return false;
  value = negative ? -v : v;
  return true;
}

}  // namespace

LabeledImages read_digits(const std::string& path) {
  const std::string text = read_all(path);
  LabeledImages s;
  s.h = 8;
  s.w = 8;
  s.c = 1;
  s.classes = kClasses;
  s.pixels.reserve(1797 * kPixels);
  s.labels.reserve(1797);
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    ++line_no;
    const char* line = text.data() + pos;
    const char* line_end = text.data() + eol;
    pos = eol + 1;
    // Blank lines (e.g. a final newline) carry no row.
    const char* q = line;
    while (q < line_end && (*q == ' ' || *q == '\t' || *q == '\r')) ++q;
    if (q == line_end) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    int field = 0;
    const char* start = line;
    for (const char* p = line;; ++p) {
      if (p == line_end || *p == ',') {
        if (field > kPixels) {
          throw DataError(where + ": more than " + std::to_string(kPixels + 1) + " fields");
        }
        long v = 0;
        if (!parse_int(start, p, v)) {
          throw DataError(where + ": field " + std::to_string(field + 1) + " '" +
                          std::string(start, p) + "' is not an integer");
        }
        if (field < kPixels) {
          if (v < 0 || v > kMaxPixel) {
            throw DataError(where + ": pixel " + std::to_string(field + 1) + " = " +
                            std::to_string(v) + ", expected 0..16");
          }
          s.pixels.push_back(static_cast<uint8_t>(v));
        } else {
          if (v < 0 || v >= kClasses) {
            throw DataError(where + ": label " + std::to_string(v) + ", expected 0..9");
          }
          s.labels.push_back(static_cast<int>(v));
        }
        ++field;
        start = p + 1;
        if (p == line_end) break;
      }
    }
    if (field != kPixels + 1) {
      throw DataError(where + ": " + std::to_string(field) + " fields, expected " +
                      std::to_string(kPixels + 1) + " (64 pixels and the label)");
    }
  }
  if (s.labels.empty()) throw DataError(path + ": no rows, expected 64 pixels and a label per row");
  s.n = s.labels.size();
  return s;
}

}  // namespace effinfer::io
