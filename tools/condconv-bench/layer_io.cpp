// The HDF5 input and output of `layer` (spec condconv-bench sections 3 and 6).
#include "layer_io.hpp"

#include <cmath>
#include <sstream>

#include "core/error.hpp"

namespace effinfer::condconv {
namespace {

std::string shape_str(const std::vector<hsize_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string dtype_str(const io::DatasetInfo& info) {
  switch (info.element) {
    case io::ElementClass::kFloat:
      return "float" + std::to_string(8 * info.element_size);
    case io::ElementClass::kInteger:
      return "integer (" + std::to_string(8 * info.element_size) + "-bit)";
    case io::ElementClass::kString:
      return "string";
    default:
      return "non-numeric";
  }
}

// "[i,j,k]" of flat index `flat` in `shape`.
std::string index_str(size_t flat, const std::vector<hsize_t>& shape) {
  std::vector<size_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string s = "[";
  for (size_t i = 0; i < idx.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(idx[i]);
  }
  return s + "]";
}

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), file_(open(path)) {}

  static io::H5File open(const std::string& path) {
    try {
      return io::H5File::open(path);
    } catch (const InputError&) {
      throw InputError(path + ": cannot open the layer input (missing, unreadable or not HDF5)");
    }
  }

  [[noreturn]] void fail(const std::string& object, const std::string& msg) const {
    throw DataError(path_ + ":" + object + ": " + msg);
  }

  bool has(const std::string& ds) const { return file_.exists(ds) && file_.is_dataset(ds); }

  // Shape of a floating dataset of the given rank; sets / checks the file's one dtype.
  std::vector<hsize_t> require(const std::string& ds, size_t rank, const std::string& expected) {
    if (!has(ds)) fail(ds, "missing dataset, expected " + expected);
    const io::DatasetInfo info = file_.info(ds);
    if (info.element != io::ElementClass::kFloat ||
        (info.element_size != 4 && info.element_size != 8))
      fail(ds,
           "expected float32 or float64, found " + dtype_str(info) + " " + shape_str(info.shape));
    const bool f64 = info.element_size == 8;
    if (dtype_ds_.empty()) {
      dtype_ds_ = ds;
      f64_ = f64;
    } else if (f64 != f64_) {
      fail(ds, "expected float32 or float64 throughout, found " + dtype_str(info) + " mixed with " +
                   (f64_ ? "float64" : "float32") + " " + dtype_ds_);
    }
    if (info.shape.size() != rank)
      fail(ds, "expected rank " + std::to_string(rank) + " " + expected + ", found shape " +
                   shape_str(info.shape));
    return info.shape;
  }

  std::vector<double> read(const std::string& ds, const std::vector<hsize_t>& shape) const {
    size_t count = 1;
    for (auto d : shape) count *= d;
    std::vector<double> v(count);
    if (count) file_.read_raw(ds, H5T_NATIVE_DOUBLE, v.data(), count);
    for (size_t i = 0; i < count; ++i)
      if (!std::isfinite(v[i]))
        fail(ds, "non-finite value " + std::string(std::isnan(v[i]) ? "NaN" : "Inf") +
                     " at index " + index_str(i, shape) + " (first bad element)");
    return v;
  }

  const io::H5File& file() const { return file_; }
  bool f64() const { return f64_; }

 private:
  std::string path_;
  io::H5File file_;
  std::string dtype_ds_;
  bool f64_ = false;
};

void write_attr_int32_pair(io::H5File& f, const std::string& object, const std::string& name,
                           int32_t a, int32_t b) {
  const hsize_t dims[1] = {2};
  io::H5Id space(H5Screate_simple(1, dims, nullptr));
  io::H5Id obj(H5Oopen(f.id(), object.c_str(), H5P_DEFAULT));
  io::H5Id attr(
      H5Acreate2(obj.get(), name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  const int32_t v[2] = {a, b};
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT32, v) < 0)
    throw WriteError(f.path() + ":" + object + ": cannot write attribute " + name);
}

}  // namespace

std::vector<uint64_t> x_shape(const LayerShape& s, int64_t batch) {
  if (s.kind == Kind::kFc) return {uint64_t(batch), uint64_t(s.cin)};
  return {uint64_t(batch), uint64_t(s.h), uint64_t(s.w), uint64_t(s.cin)};
}

std::vector<uint64_t> experts_shape(const LayerShape& s) {
  const uint64_t n = s.experts;
  switch (s.kind) {
    case Kind::kConv:
      return {n, uint64_t(s.kh), uint64_t(s.kw), uint64_t(s.cin), uint64_t(s.cout)};
    case Kind::kDepthwise:
      return {n, uint64_t(s.kh), uint64_t(s.kw), uint64_t(s.cin), 1};
    case Kind::kFc:
      return {n, uint64_t(s.cin), uint64_t(s.cout)};
  }
  return {};
}

std::vector<uint64_t> y_shape(const LayerShape& s, int64_t batch) {
  if (s.kind == Kind::kFc) return {uint64_t(batch), uint64_t(s.cout)};
  return {uint64_t(batch), uint64_t(s.ho()), uint64_t(s.wo()), uint64_t(s.cout)};
}

LayerInput read_layer_input(const std::string& path, bool need_routing, bool need_weights) {
  Reader r(path);
  LayerInput in;
  in.path = path;
  // Experts first: they define the kind and n.
  if (!r.has("/experts"))
    r.fail(
        "/experts",
        "missing dataset, expected the experts [n,kh,kw,Cin,Cout] | [n,kh,kw,C,1] | [n,Cin,Cout]");
  const io::H5File& f = r.file();
  std::string kind = "conv";
  if (f.has_attribute("/experts", "kind")) kind = f.read_attribute_string("/experts", "kind");
  LayerShape& s = in.shape;
  if (kind == "conv")
    s.kind = Kind::kConv;
  else if (kind == "depthwise")
    s.kind = Kind::kDepthwise;
  else if (kind == "fc")
    s.kind = Kind::kFc;
  else
    r.fail("/experts", "attribute kind: expected conv, depthwise or fc, found '" + kind + "'");
  const bool fc = s.kind == Kind::kFc;
  const std::string xexp = fc ? "[B,Cin]" : "[B,H,W,Cin]";
  const auto xs = r.require("/x", fc ? 2 : 4, xexp);
  const std::string eexp =
      fc ? "[n,Cin,Cout]" : (s.kind == Kind::kConv ? "[n,kh,kw,Cin,Cout]" : "[n,kh,kw,C,1]");
  const auto es = r.require("/experts", fc ? 3 : 5, eexp);
  in.batch = static_cast<int64_t>(xs[0]);
  s.experts = static_cast<int64_t>(es[0]);
  if (s.experts < 1) r.fail("/experts", "expected at least one expert, found n=0");
  if (fc) {
    s.cin = static_cast<int64_t>(es[1]);
    s.cout = static_cast<int64_t>(es[2]);
    if (static_cast<int64_t>(xs[1]) != s.cin)
      r.fail("/x", "Cin " + std::to_string(xs[1]) + " of /x " + shape_str(xs) +
                       " differs from Cin " + std::to_string(s.cin) + " of /experts " +
                       shape_str(es));
  } else {
    s.h = static_cast<int64_t>(xs[1]);
    s.w = static_cast<int64_t>(xs[2]);
    s.kh = static_cast<int64_t>(es[1]);
    s.kw = static_cast<int64_t>(es[2]);
    s.cin = static_cast<int64_t>(es[3]);
    s.cout = s.kind == Kind::kDepthwise ? s.cin : static_cast<int64_t>(es[4]);
    if (s.kind == Kind::kDepthwise && es[4] != 1)
      r.fail("/experts",
             "depthwise experts [n,kh,kw,C,1] support multiplier 1 only, found last "
             "dimension " +
                 std::to_string(es[4]) + " in " + shape_str(es));
    if (static_cast<int64_t>(xs[3]) != s.cin)
      r.fail("/x", "Cin " + std::to_string(xs[3]) + " of /x " + shape_str(xs) +
                       " differs from Cin " + std::to_string(s.cin) + " of /experts " +
                       shape_str(es));
    int64_t stride = 1;
    // stride is int32[2]; read it through the C API (H5File reads scalar attributes only).
    if (f.has_attribute("/experts", "stride")) {
      io::H5Id obj(H5Oopen(f.id(), "/experts", H5P_DEFAULT));
      io::H5Id attr(H5Aopen(obj.get(), "stride", H5P_DEFAULT));
      io::H5Id space(H5Aget_space(attr.get()));
      const hssize_t count = H5Sget_simple_extent_npoints(space.get());
      std::vector<int64_t> v(std::max<hssize_t>(count, 1));
      if (count < 1 || count > 2 || H5Aread(attr.get(), H5T_NATIVE_INT64, v.data()) < 0)
        r.fail("/experts", "attribute stride: expected int32[2]");
      if (count == 2 && v[0] != v[1])
        r.fail("/experts", "attribute stride: expected equal strides, found (" +
                               std::to_string(v[0]) + ", " + std::to_string(v[1]) + ")");
      stride = v[0];
    }
    if (stride < 1)
      r.fail("/experts", "attribute stride: expected >= 1, found " + std::to_string(stride));
    s.stride = stride;
    std::string pad = "same";
    if (f.has_attribute("/experts", "padding"))
      pad = f.read_attribute_string("/experts", "padding");
    if (pad == "same")
      s.padding = Padding::kSame;
    else if (pad == "valid")
      s.padding = Padding::kValid;
    else
      r.fail("/experts", "attribute padding: expected same or valid, found '" + pad + "'");
    if (s.ho() < 1 || s.wo() < 1)
      r.fail("/experts", "VALID padding with kernel " + std::to_string(s.kh) + "x" +
                             std::to_string(s.kw) + " larger than the input " +
                             std::to_string(s.h) + "x" + std::to_string(s.w) +
                             " gives an empty output");
  }
  if (in.batch < 1) r.fail("/x", "expected at least one example, found shape " + shape_str(xs));
  const std::string n_str = "n=" + std::to_string(s.experts);
  if (r.has("/expert_bias")) {
    const auto bs = r.require("/expert_bias", 2, "[n,Cout]");
    if (static_cast<int64_t>(bs[0]) != s.experts || static_cast<int64_t>(bs[1]) != s.cout)
      r.fail("/expert_bias", "expected [n,Cout] = [" + std::to_string(s.experts) + "," +
                                 std::to_string(s.cout) + "] (" + n_str + " of /experts), found " +
                                 shape_str(bs));
    s.expert_bias = true;
  }
  in.has_routing = r.has("/routing/kernel");
  if (in.has_routing || need_routing) {
    const auto ks = r.require("/routing/kernel", 2, "[Cin,n]");
    if (static_cast<int64_t>(ks[0]) != s.cin || static_cast<int64_t>(ks[1]) != s.experts)
      r.fail("/routing/kernel", "expected [Cin,n] = [" + std::to_string(s.cin) + "," +
                                    std::to_string(s.experts) + "] (" + n_str +
                                    " of /experts), found " + shape_str(ks));
    const auto cs = r.require("/routing/bias", 1, "[n]");
    if (static_cast<int64_t>(cs[0]) != s.experts)
      r.fail("/routing/bias",
             "expected [n] with " + n_str + " of /experts, found " + shape_str(cs));
    in.has_routing = true;
  }
  in.has_routing_weights = r.has("/routing_weights");
  if (in.has_routing_weights || need_weights) {
    const auto ws = r.require("/routing_weights", 2, "[B,n]");
    if (static_cast<int64_t>(ws[0]) != in.batch)
      r.fail("/routing_weights", "batch " + std::to_string(ws[0]) + " of /routing_weights " +
                                     shape_str(ws) + " differs from batch " +
                                     std::to_string(in.batch) + " of /x " + shape_str(xs));
    if (static_cast<int64_t>(ws[1]) != s.experts)
      r.fail("/routing_weights",
             "expected [B,n] with " + n_str + " of /experts, found " + shape_str(ws));
    in.has_routing_weights = true;
  }
  in.f64 = r.f64();
  // Values (finiteness checked with the first bad index).
  in.x = r.read("/x", xs);
  in.experts = r.read("/experts", es);
  if (s.expert_bias) in.expert_bias = r.read("/expert_bias", {hsize_t(s.experts), hsize_t(s.cout)});
  if (in.has_routing) {
    in.routing_kernel = r.read("/routing/kernel", {hsize_t(s.cin), hsize_t(s.experts)});
    in.routing_bias = r.read("/routing/bias", {hsize_t(s.experts)});
  }
  if (in.has_routing_weights)
    in.routing_weights = r.read("/routing_weights", {hsize_t(in.batch), hsize_t(s.experts)});
  return in;
}

void write_float_dataset(io::H5File& f, const std::string& path, const std::vector<double>& v,
                         const std::vector<uint64_t>& shape, bool f64, const std::string& units) {
  if (f64) {
    write_float_dataset<double>(f, path, v.data(), shape, units);
  } else {
    const std::vector<float> t(v.begin(), v.end());
    write_float_dataset<float>(f, path, t.data(), shape, units);
  }
}

template <class T>
void write_float_dataset(io::H5File& f, const std::string& path, const T* v,
                         const std::vector<uint64_t>& shape, const std::string& units) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) f.create_group(path.substr(0, slash));
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  io::H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  const bool f64 = sizeof(T) == 8;
  io::H5Id ds(H5Dcreate2(f.id(), path.c_str(), f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, space.get(),
                         H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!ds.valid() || H5Dwrite(ds.get(), f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL,
                              H5S_ALL, H5P_DEFAULT, v) < 0)
    throw WriteError(f.path() + ":" + path + ": cannot write dataset");
  if (!units.empty()) f.set_units(path, units);
}

template void write_float_dataset<float>(io::H5File&, const std::string&, const float*,
                                         const std::vector<uint64_t>&, const std::string&);
template void write_float_dataset<double>(io::H5File&, const std::string&, const double*,
                                          const std::vector<uint64_t>&, const std::string&);

void write_layer_input(io::H5File& f, const LayerInput& in) {
  const LayerShape& s = in.shape;
  write_float_dataset(f, "/x", in.x, x_shape(s, in.batch), in.f64, "1");
  write_float_dataset(f, "/experts", in.experts, experts_shape(s), in.f64, "1");
  f.set_attribute("/experts", "kind", kind_name(s.kind));
  write_attr_int32_pair(f, "/experts", "stride", static_cast<int32_t>(s.stride),
                        static_cast<int32_t>(s.stride));
  f.set_attribute("/experts", "padding", padding_name(s.padding));
  if (s.expert_bias)
    write_float_dataset(f, "/expert_bias", in.expert_bias, {uint64_t(s.experts), uint64_t(s.cout)},
                        in.f64, "1");
  if (in.has_routing) {
    write_float_dataset(f, "/routing/kernel", in.routing_kernel,
                        {uint64_t(s.cin), uint64_t(s.experts)}, in.f64, "1");
    write_float_dataset(f, "/routing/bias", in.routing_bias, {uint64_t(s.experts)}, in.f64, "1");
  }
  if (in.has_routing_weights)
    write_float_dataset(f, "/routing_weights", in.routing_weights,
                        {uint64_t(in.batch), uint64_t(s.experts)}, in.f64, "1");
}

}  // namespace effinfer::condconv
