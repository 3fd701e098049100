#include "io/npy.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicSize = 6;

// Reads a whole file; InputError (66) when missing or unreadable.
std::string slurp(const std::string& path, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path + ": " + what + " not found");
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory, expected a " + what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open " + what + " for reading");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw InputError(path + ": read error");
  return s.str();
}

// Little-endian fixed-width reads from a byte buffer (bounds are checked by the callers).
uint64_t le(const std::string& b, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[pos + i]);
  return v;
}
uint16_t le16(const std::string& b, size_t pos) { return static_cast<uint16_t>(le(b, pos, 2)); }
uint32_t le32(const std::string& b, size_t pos) { return static_cast<uint32_t>(le(b, pos, 4)); }
uint64_t le64(const std::string& b, size_t pos) { return le(b, pos, 8); }

// --- NPY header: a Python dict literal ------------------------------------------------------

struct PyValue {
  enum class Kind { kString, kBool, kNone, kInt, kSequence };
  Kind kind = Kind::kNone;
  std::string str;
  bool boolean = false;
  int64_t integer = 0;
  char open = 0;  // '(' or '[' for sequences
  std::vector<PyValue> items;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& where) : text_(text), where_(where) {}

  std::map<std::string, PyValue> parse_dict() {
    std::map<std::string, PyValue> dict;
    expect('{');
    skip_space();
    while (peek() != '}') {
      PyValue key = parse_value();
      if (key.kind != PyValue::Kind::kString) fail("dictionary key is not a string");
      expect(':');
      dict[key.str] = parse_value();
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) fail("text after the closing '}'");
    return dict;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(where_ + ": malformed NPY header (" + what + " at character " +
                    std::to_string(pos_) + "): " + text_);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  bool take_word(const char* word) {
    const size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  PyValue parse_value() {
    skip_space();
    PyValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::kString;
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != c) {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        v.str += text_[pos_++];
      }
      if (pos_ >= text_.size()) fail("unterminated string");
      ++pos_;
    } else if (c == '(' || c == '[') {
      v.kind = PyValue::Kind::kSequence;
      v.open = c;
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      skip_space();
      while (peek() != close) {
        v.items.push_back(parse_value());
        skip_space();
        if (peek() == ',') {
          ++pos_;
          skip_space();
        } else if (peek() != close) {
          fail(std::string("expected ',' or '") + close + "'");
        }
      }
      ++pos_;
    } else if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) {
      v.kind = PyValue::Kind::kInt;
      bool negative = c == '-';
      if (c == '-' || c == '+') ++pos_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a digit");
      uint64_t n = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const uint64_t digit = static_cast<uint64_t>(text_[pos_++] - '0');
        if (n > (static_cast<uint64_t>(INT64_MAX) - digit) / 10) fail("integer too large");
        n = n * 10 + digit;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long
      v.integer = negative ? -static_cast<int64_t>(n) : static_cast<int64_t>(n);
    } else if (take_word("True")) {
      v.kind = PyValue::Kind::kBool;
      v.boolean = true;
    } else if (take_word("False")) {
      v.kind = PyValue::Kind::kBool;
    } else if (take_word("None")) {
      v.kind = PyValue::Kind::kNone;
    } else {
      fail("unexpected character");
    }
    return v;
  }

  const std::string& text_;
  const std::string& where_;
  size_t pos_ = 0;
};

// --- dtypes ---------------------------------------------------------------------------------

struct Dtype {
  char kind = 0;  // 'f', 'i', 'u', 'b'
  int size = 0;   // bytes per element
  bool swap = false;
};

Dtype parse_dtype(const std::string& descr, const std::string& where) {
  const std::string expected =
      "expected a float ('<f4', '<f8'), integer ('<i1'..'<i8', '|u1'..'<u8') or bool ('|b1') "
      "dtype";
  std::string rest = descr;
  char order = '=';
  if (!rest.empty() && std::strchr("<>|=", rest[0])) {
    order = rest[0];
    rest.erase(0, 1);
  }
  Dtype d;
  bool ok = rest.size() >= 2 && std::all_of(rest.begin() + 1, rest.end(), [](char c) {
              return std::isdigit(static_cast<unsigned char>(c));
            });
  if (ok) {
    d.kind = rest[0];
    d.size = rest.size() <= 2 ? rest[1] - '0' : 0;
    switch (d.kind) {
      case 'f':
        ok = d.size == 4 || d.size == 8;
        break;
      case 'i':
      case 'u':
        ok = d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8;
        break;
      case 'b':
        ok = d.size == 1;
        break;
      default:
        ok = false;
    }
  }
  if (!ok) throw DataError(where + ": unsupported dtype '" + descr + "' (" + expected + ")");
  const bool little = std::endian::native == std::endian::little;
  d.swap = d.size > 1 && ((order == '>' && little) || (order == '<' && !little));
  return d;
}

template <class T>
void convert(const char* src, size_t n, bool swap, double* out) {
  for (size_t i = 0; i < n; ++i, src += sizeof(T)) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, src, sizeof(T));
    if (swap) std::reverse(bytes, bytes + sizeof(T));
    T v;
    std::memcpy(&v, bytes, sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

void convert(const Dtype& d, const char* src, size_t n, double* out) {
  switch (d.kind) {
    case 'f':
      if (d.size == 4) return convert<float>(src, n, d.swap, out);
      return convert<double>(src, n, d.swap, out);
    case 'i':
      if (d.size == 1) return convert<int8_t>(src, n, false, out);
      if (d.size == 2) return convert<int16_t>(src, n, d.swap, out);
      if (d.size == 4) return convert<int32_t>(src, n, d.swap, out);
      return convert<int64_t>(src, n, d.swap, out);
    case 'u':
      if (d.size == 1) return convert<uint8_t>(src, n, false, out);
      if (d.size == 2) return convert<uint16_t>(src, n, d.swap, out);
      if (d.size == 4) return convert<uint32_t>(src, n, d.swap, out);
      return convert<uint64_t>(src, n, d.swap, out);
    default:  // 'b'
      for (size_t i = 0; i < n; ++i) out[i] = src[i] != 0 ? 1.0 : 0.0;
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// --- ZIP ------------------------------------------------------------------------------------

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
// Deflate cannot compress better than about 1032:1; a larger declared ratio is corrupt.
constexpr uint64_t kMaxDeflateRatio = 1100;

std::string inflate_raw(const std::string& data, size_t start, uint64_t csize, uint64_t usize,
                        const std::string& where) {
  std::string out(usize, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw InternalError("zlib inflateInit2 failed");
  constexpr uint64_t kChunk = 1u << 30;
  uint64_t in_left = csize, out_left = usize;
  const char* in_ptr = data.data() + start;
  char* out_ptr = out.data();
  char spare;  // one byte past the declared size, to notice data that is too long
  bool spare_used = false;
  int ret = Z_OK;
  while (ret == Z_OK) {
    if (zs.avail_in == 0 && in_left > 0) {
      const uInt n = static_cast<uInt>(std::min(in_left, kChunk));
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in_ptr));
      zs.avail_in = n;
      in_ptr += n;
      in_left -= n;
    }
    if (zs.avail_out == 0) {
      if (out_left > 0) {
        const uInt n = static_cast<uInt>(std::min(out_left, kChunk));
        zs.next_out = reinterpret_cast<Bytef*>(out_ptr);
        zs.avail_out = n;
        out_ptr += n;
        out_left -= n;
      } else if (!spare_used) {
        zs.next_out = reinterpret_cast<Bytef*>(&spare);
        zs.avail_out = 1;
        spare_used = true;
      } else {
        break;
      }
    }
    ret = inflate(&zs, Z_NO_FLUSH);
    if (ret == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) break;  // input exhausted
    if (ret == Z_BUF_ERROR) ret = Z_OK;
  }
  const std::string zmsg = zs.msg ? zs.msg : "";
  const uint64_t produced = zs.total_out, consumed = zs.total_in;
  inflateEnd(&zs);
  if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT)
    throw DataError(where + ": corrupt deflate data (" + (zmsg.empty() ? "zlib error" : zmsg) +
                    ")");
  if (ret == Z_MEM_ERROR) throw InternalError(where + ": out of memory while inflating");
  if (ret != Z_STREAM_END || produced != usize)
    throw DataError(where + ": deflate data does not match the declared size (expected " +
                    std::to_string(usize) + " bytes, found " +
                    (ret == Z_STREAM_END ? std::to_string(produced) : "more or fewer") + ")");
  if (consumed != csize)
    throw DataError(where + ": deflate stream ends after " + std::to_string(consumed) +
                    " bytes, expected the declared compressed size " + std::to_string(csize));
  return out;
}

}  // namespace

// --- NpyArray -------------------------------------------------------------------------------

bool NpyArray::is_float() const {
  const size_t k = (!dtype.empty() && std::strchr("<>|=", dtype[0])) ? 1 : 0;
  return dtype.size() > k && dtype[k] == 'f';
}

std::string NpyArray::describe() const { return dtype + " " + shape_text(shape); }

RowMatrixXd NpyArray::matrix(bool float_only) const {
  if (float_only && !is_float())
    throw DataError(where + ": expected a float array ('<f4' or '<f8'), found " + describe());
  if (shape.size() != 2) throw DataError(where + ": expected a 2-D array, found " + describe());
  return Eigen::Map<const RowMatrixXd>(values.data(), shape[0], shape[1]);
}

Eigen::VectorXd NpyArray::vector(bool float_only) const {
  if (float_only && !is_float())
    throw DataError(where + ": expected a float array ('<f4' or '<f8'), found " + describe());
  if (shape.size() != 1) throw DataError(where + ": expected a 1-D array, found " + describe());
  return Eigen::Map<const Eigen::VectorXd>(values.data(), shape[0]);
}

// --- NPY ------------------------------------------------------------------------------------

NpyArray parse_npy(const std::string& bytes, const std::string& where) {
  if (bytes.size() < kNpyMagicSize || bytes.compare(0, kNpyMagicSize, kNpyMagic) != 0)
    throw DataError(where + ": not an NPY array (expected the magic \"\\x93NUMPY\")");
  if (bytes.size() < 10)
    throw DataError(where + ": truncated NPY header (" + std::to_string(bytes.size()) + " bytes)");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  size_t header_start = 0;
  uint64_t header_len = 0;
  if (major == 1) {
    header_start = 10;
    header_len = le16(bytes, 8);
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw DataError(where + ": truncated NPY header");
    header_start = 12;
    header_len = le32(bytes, 8);
  } else {
    throw DataError(where + ": unsupported NPY format version " + std::to_string(major) + "." +
                    std::to_string(minor) + " (expected 1.0, 2.0 or 3.0)");
  }
  if (bytes.size() - header_start < header_len)
    throw DataError(where + ": truncated NPY header (expected " + std::to_string(header_len) +
                    " header bytes, found " + std::to_string(bytes.size() - header_start) + ")");
  std::string header = bytes.substr(header_start, header_len);
  while (!header.empty() && (header.back() == '\n' || header.back() == ' ' ||
                             header.back() == '\0' || header.back() == '\r'))
    header.pop_back();
  const auto dict = HeaderParser(header, where).parse_dict();

  NpyArray array;
  array.where = where;
  auto field = [&](const char* key) -> const PyValue& {
    auto it = dict.find(key);
    if (it == dict.end())
      throw DataError(where + ": NPY header has no '" + key + "' entry: " + header);
    return it->second;
  };
  const PyValue& descr = field("descr");
  if (descr.kind != PyValue::Kind::kString)
    throw DataError(where +
                    ": unsupported dtype (structured or non-string descr; expected a "
                    "plain numeric dtype such as '<f8'): " +
                    header);
  array.dtype = descr.str;
  const PyValue& order = field("fortran_order");
  if (order.kind != PyValue::Kind::kBool)
    throw DataError(where + ": NPY header 'fortran_order' is not True/False: " + header);
  const PyValue& shape = field("shape");
  if (shape.kind != PyValue::Kind::kSequence)
    throw DataError(where + ": NPY header 'shape' is not a tuple: " + header);
  uint64_t count = 1;
  for (const PyValue& d : shape.items) {
    if (d.kind != PyValue::Kind::kInt || d.integer < 0)
      throw DataError(where +
                      ": NPY header 'shape' has a non-integer or negative entry: " + header);
    array.shape.push_back(d.integer);
    const uint64_t n = static_cast<uint64_t>(d.integer);
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / 16 / n)
      throw DataError(where + ": NPY shape " + shape_text(array.shape) + " is too large");
    count *= n;
  }
  // A (1-D or scalar) array has the same layout in both orders; otherwise only C order is read.
  if (order.boolean && array.shape.size() > 1)
    throw DataError(where +
                    ": array is in Fortran order, expected C order (fortran_order: "
                    "False; save np.ascontiguousarray(a)), found " +
                    array.describe());
  const Dtype dtype = parse_dtype(array.dtype, where);

  const size_t data_start = header_start + header_len;
  const uint64_t expected = count * static_cast<uint64_t>(dtype.size);
  const uint64_t found = bytes.size() - data_start;
  if (found != expected)
    throw DataError(where + ": " + (found < expected ? "truncated" : "trailing bytes in") +
                    " array data of " + array.describe() + " (expected " +
                    std::to_string(expected) + " bytes, found " + std::to_string(found) + ")");
  array.values.resize(count);
  convert(dtype, bytes.data() + data_start, count, array.values.data());
  return array;
}

NpyArray read_npy(const std::string& path) {
  const std::string bytes = slurp(path, "NPY file");
  if (bytes.size() < kNpyMagicSize || bytes.compare(0, kNpyMagicSize, kNpyMagic) != 0)
    throw InputError(path + ": not an NPY file (expected the magic \"\\x93NUMPY\")");
  return parse_npy(bytes, path);
}

RowMatrixXd read_npy_matrix(const std::string& path, bool float_only) {
  return read_npy(path).matrix(float_only);
}

Eigen::VectorXd read_npy_vector(const std::string& path, bool float_only) {
  return read_npy(path).vector(float_only);
}

// --- NPZ ------------------------------------------------------------------------------------

NpzArchive NpzArchive::open(const std::string& path) {
  NpzArchive a;
  a.path_ = path;
  a.data_ = slurp(path, "NPZ archive");
  const std::string& b = a.data_;
  const bool zip_start = b.size() >= 4 && le32(b, 0) == kLocalHeaderSig;
  const bool empty_zip = b.size() >= 4 && le32(b, 0) == kEndSig;

  // End-of-central-directory record: the last one whose comment runs exactly to the end.
  size_t end = std::string::npos;
  if (b.size() >= kEndSize) {
    const size_t lowest = b.size() - kEndSize > 0xFFFF ? b.size() - kEndSize - 0xFFFF : 0;
    for (size_t pos = b.size() - kEndSize + 1; pos-- > lowest;) {
      if (le32(b, pos) == kEndSig && pos + kEndSize + le16(b, pos + 20) == b.size()) {
        end = pos;
        break;
      }
    }
  }
  if (end == std::string::npos) {
    if (zip_start || empty_zip)
      throw DataError(path +
                      ": truncated or corrupt ZIP archive (no end-of-central-directory "
                      "record found)");
    throw InputError(path + ": not an NPZ (ZIP) archive");
  }
  if (le16(b, end + 4) != 0 || le16(b, end + 6) != 0)
    throw DataError(path + ": multi-disk ZIP archives are not supported");
  uint64_t entries = le16(b, end + 10);
  uint64_t cd_size = le32(b, end + 12);
  uint64_t cd_offset = le32(b, end + 16);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (end < 20 || le32(b, end - 20) != kZip64LocatorSig)
      throw DataError(path + ": ZIP64 archive without a ZIP64 end-of-central-directory locator");
    const uint64_t z64 = le64(b, end - 20 + 8);
    if (z64 > b.size() || b.size() - z64 < 56 || le32(b, z64) != kZip64EndSig)
      throw DataError(path + ": corrupt ZIP64 end-of-central-directory record");
    entries = le64(b, z64 + 32);
    cd_size = le64(b, z64 + 40);
    cd_offset = le64(b, z64 + 48);
  }
  if (cd_offset > b.size() || cd_size > b.size() - cd_offset)
    throw DataError(path + ": corrupt ZIP archive (central directory at " +
                    std::to_string(cd_offset) + " + " + std::to_string(cd_size) +
                    " bytes lies beyond the file's " + std::to_string(b.size()) + " bytes)");

  size_t pos = cd_offset;
  const size_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < entries; ++i) {
    const std::string entry = path + ": central directory entry " + std::to_string(i + 1);
    if (cd_end - pos < kCentralHeaderSize || le32(b, pos) != kCentralHeaderSig)
      throw DataError(entry + " is corrupt (expected " + std::to_string(entries) +
                      " entries, bad signature or truncated)");
    Member m;
    m.flags = le16(b, pos + 8);
    m.method = le16(b, pos + 10);
    m.crc32 = le32(b, pos + 16);
    m.compressed_size = le32(b, pos + 20);
    m.size = le32(b, pos + 24);
    const size_t name_len = le16(b, pos + 28), extra_len = le16(b, pos + 30),
                 comment_len = le16(b, pos + 32);
    m.local_header_offset = le32(b, pos + 42);
    if (cd_end - pos - kCentralHeaderSize < name_len + extra_len + comment_len)
      throw DataError(entry + " is truncated");
    m.name = b.substr(pos + kCentralHeaderSize, name_len);
    // ZIP64 extended information: the fields saturated at 0xFFFFFFFF, in this order.
    size_t x = pos + kCentralHeaderSize + name_len;
    const size_t x_end = x + extra_len;
    while (x_end - x >= 4) {
      const uint16_t id = le16(b, x), len = le16(b, x + 2);
      if (x_end - x - 4 < len) break;
      if (id == 0x0001) {
        size_t f = x + 4;
        const size_t f_end = f + len;
        for (uint64_t* field : {&m.size, &m.compressed_size, &m.local_header_offset}) {
          if (*field != 0xFFFFFFFF) continue;
          if (f_end - f < 8) throw DataError(entry + " ('" + m.name + "'): truncated ZIP64 field");
          *field = le64(b, f);
          f += 8;
        }
      }
      x += 4 + len;
    }
    a.members_.push_back(std::move(m));
    pos += kCentralHeaderSize + name_len + extra_len + comment_len;
  }
  return a;
}

std::vector<std::string> NpzArchive::members() const {
  std::vector<std::string> names;
  for (const Member& m : members_) names.push_back(m.name);
  return names;
}

std::vector<std::string> NpzArchive::arrays() const {
  std::vector<std::string> names;
  for (const Member& m : members_)
    if (m.name.size() > 4 && m.name.compare(m.name.size() - 4, 4, ".npy") == 0)
      names.push_back(m.name.substr(0, m.name.size() - 4));
  return names;
}

bool NpzArchive::contains(const std::string& name) const {
  for (const Member& m : members_)
    if (m.name == name || m.name == name + ".npy") return true;
  return false;
}

const NpzArchive::Member& NpzArchive::find(const std::string& name) const {
  // The last entry of a name wins (as in Python's zipfile); an exact name beats name + ".npy".
  const Member* found = nullptr;
  for (const Member& m : members_)
    if (m.name == name) found = &m;
  if (!found)
    for (const Member& m : members_)
      if (m.name == name + ".npy") found = &m;
  if (found) return *found;
  std::string list;
  for (const Member& m : members_) list += (list.empty() ? "" : ", ") + m.name;
  throw DataError(path_ + ":" + name + ": no such member in the archive (members: " +
                  (list.empty() ? "none" : list) + ")");
}

std::string NpzArchive::read_bytes(const std::string& name) const {
  const Member& m = find(name);
  const std::string where = path_ + ":" + m.name;
  const std::string& b = data_;
  if (m.flags & 0x1) throw DataError(where + ": member is encrypted");
  if (m.method != 0 && m.method != 8)
    throw DataError(where + ": unsupported compression method " + std::to_string(m.method) +
                    " (expected 0 stored or 8 deflated)");
  const uint64_t off = m.local_header_offset;
  if (off > b.size() || b.size() - off < kLocalHeaderSize || le32(b, off) != kLocalHeaderSig)
    throw DataError(where + ": corrupt ZIP archive (no local header at offset " +
                    std::to_string(off) + ")");
  const uint64_t start = off + kLocalHeaderSize + le16(b, off + 26) + le16(b, off + 28);
  if (start > b.size() || b.size() - start < m.compressed_size)
    throw DataError(where + ": truncated member data (expected " +
                    std::to_string(m.compressed_size) + " bytes at offset " +
                    std::to_string(start) + ", the file has " + std::to_string(b.size()) + ")");
  std::string out;
  if (m.method == 0) {
    if (m.compressed_size != m.size)
      throw DataError(where + ": stored member with compressed size " +
                      std::to_string(m.compressed_size) + " != size " + std::to_string(m.size));
    out = b.substr(start, m.size);
  } else {
    if (m.size > m.compressed_size * kMaxDeflateRatio + 1024)
      throw DataError(where + ": implausible declared size " + std::to_string(m.size) + " for " +
                      std::to_string(m.compressed_size) + " compressed bytes");
    out = inflate_raw(b, start, m.compressed_size, m.size, where);
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t done = 0; done < out.size();) {
    const uInt n = static_cast<uInt>(std::min<size_t>(out.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + done), n);
    done += n;
  }
  if (static_cast<uint32_t>(crc) != m.crc32) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "expected %08x, found %08x", m.crc32,
                  static_cast<uint32_t>(crc));
    throw DataError(where + ": CRC-32 mismatch, member is corrupt (" + buf + ")");
  }
  return out;
}

NpyArray NpzArchive::read(const std::string& name) const {
  const Member& m = find(name);
  return parse_npy(read_bytes(m.name), path_ + ":" + m.name);
}

RowMatrixXd NpzArchive::read_matrix(const std::string& name, bool float_only) const {
  return read(name).matrix(float_only);
}

Eigen::VectorXd NpzArchive::read_vector(const std::string& name, bool float_only) const {
  return read(name).vector(float_only);
}

}  // namespace effinfer::io
