#include "io/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

// A gzip (or plain) file opened through zlib's gzFile API, which inflates transparently.
class GzReader {
 public:
  GzReader(const std::string& path, const std::string& hint) : path_(path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      throw InputError(path + ": file not found" + (hint.empty() ? "" : " (" + hint + ")"));
    }
    if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory, expected a file");
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) throw InputError(path + ": cannot open for reading");
    gzbuffer(file_, 1 << 17);
  }
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns how many were read (fewer only at the end of the data).
  // DataError on corrupt or truncated gzip data.
  size_t read(void* dst, size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) fail();
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    int err = Z_OK;
    gzerror(file_, &err);
    if (err != Z_OK && err != Z_STREAM_END) fail();
    return done;
  }

 private:
  [[noreturn]] void fail() {
    int err = Z_OK;
    const char* msg = gzerror(file_, &err);
    if (err == Z_BUF_ERROR)
      throw DataError(path_ + ": truncated gzip data (unexpected end of file)");
    throw DataError(path_ + ": corrupt gzip data (" + (msg != nullptr ? msg : "zlib error") + ")");
  }

  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t be32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

std::string dims_text(const std::vector<uint32_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

size_t IdxArray::size() const {
  size_t n = 1;
  for (uint32_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path, int expected_rank, const std::string& hint) {
  GzReader in(path, hint);
  unsigned char magic[4];
  if (in.read(magic, 4) != 4)
    throw DataError(path + ": truncated IDX header (file shorter than 4 bytes)");
  // Magic: two zero bytes, the element type code, the rank (LeCun's IDX format).
  if (magic[0] != 0 || magic[1] != 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "0x%02X%02X%02X%02X", magic[0], magic[1], magic[2], magic[3]);
    throw DataError(path + ": bad IDX magic " + buf + ", expected 0x000008xx");
  }
  if (magic[2] != 0x08) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02X", magic[2]);
    throw DataError(path + ": unsupported IDX element type " + buf + ", expected 0x08 (uint8)");
  }
  const int rank = magic[3];
  if (rank == 0) throw DataError(path + ": IDX rank 0, expected at least 1");
  if (expected_rank > 0 && rank != expected_rank) {
    throw DataError(path + ": IDX rank " + std::to_string(rank) + ", expected " +
                    std::to_string(expected_rank) + " (magic 0x000008" +
                    (expected_rank < 16 ? "0" : "") + std::to_string(expected_rank) + ")");
  }
  IdxArray a;
  a.dims.resize(rank);
  std::vector<unsigned char> header(4 * static_cast<size_t>(rank));
  if (in.read(header.data(), header.size()) != header.size()) {
    throw DataError(path + ": truncated IDX header (" + std::to_string(rank) + " dims expected)");
  }
  unsigned __int128 total = 1;
  for (int i = 0; i < rank; ++i) {
    a.dims[i] = be32(header.data() + 4 * i);
    total *= a.dims[i];
  }
  if (total > (static_cast<unsigned __int128>(1) << 40)) {
    throw DataError(path + ": implausible IDX dims " + dims_text(a.dims));
  }
  const size_t n = static_cast<size_t>(total);
  a.data.resize(n);
  const size_t got = in.read(a.data.data(), n);
  if (got != n) {
    throw DataError(path + ": truncated IDX data: dims " + dims_text(a.dims) + " need " +
                    std::to_string(n) + " bytes, found " + std::to_string(got));
  }
  unsigned char extra;
  if (in.read(&extra, 1) != 0) {
    throw DataError(path + ": IDX data longer than its dims " + dims_text(a.dims) + " (" +
                    std::to_string(n) + " bytes expected)");
  }
  return a;
}

std::vector<size_t> LabeledImages::class_counts() const {
  std::vector<size_t> counts(std::max(classes, 0), 0);
  for (int y : labels) {
    if (y >= 0 && y < classes) ++counts[y];
  }
  return counts;
}

LabeledImages read_idx_pair(const std::string& images_path, const std::string& labels_path,
                            int classes, const std::string& hint) {
  IdxArray images = read_idx(images_path, 3, hint);
  IdxArray labels = read_idx(labels_path, 1, hint);
  if (images.dims[0] != labels.dims[0]) {
    throw DataError(images_path + " has " + std::to_string(images.dims[0]) + " images but " +
                    labels_path + " has " + std::to_string(labels.dims[0]) + " labels");
  }
  LabeledImages s;
  s.n = images.dims[0];
  s.h = images.dims[1];
  s.w = images.dims[2];
  s.c = 1;
  s.classes = classes;
  s.pixels = std::move(images.data);
  s.labels.resize(s.n);
  for (size_t i = 0; i < s.n; ++i) {
    const int y = labels.data[i];
    if (y >= classes) {
      throw DataError(labels_path + ": label " + std::to_string(y) + " at index " +
                      std::to_string(i) + ", expected 0.." + std::to_string(classes - 1));
    }
    s.labels[i] = y;
  }
  return s;
}

LabeledImages read_fashion_mnist(bool train, const std::string& dir) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  return read_idx_pair(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", 10,
                       "apt-get install dataset-fashion-mnist");
}

}  // namespace effinfer::io
