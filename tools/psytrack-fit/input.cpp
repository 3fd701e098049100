#include "input.hpp"

#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace effinfer::psytrack {

std::string subject_path(const SubjectRef& ref, const std::string& name) {
  return (ref.group.empty() ? "" : "/" + ref.group) + "/" + name;
}

std::vector<SubjectRef> list_subjects(const std::vector<std::string>& files,
                                      const std::vector<std::string>& only) {
  if (files.empty()) throw UsageError("no input file given (use -i FILE)");
  std::vector<SubjectRef> refs;
  std::set<std::string> ids;
  for (const auto& path : files) {
    const io::H5File file = io::H5File::open(path);
    std::vector<SubjectRef> found;
    if (file.is_dataset("/y")) {
      std::string id = std::filesystem::path(path).stem().string();
      if (file.has_attribute("/", "subject")) id = file.read_attribute_string("/", "subject");
      found.push_back({path, "", id});
    } else {
      for (const auto& name : file.children("/"))
        if (file.is_dataset("/" + name + "/y")) found.push_back({path, name, name});
    }
    if (found.empty())
      throw DataError(path + ": no subject: expected a dataset /y or top-level groups holding y");
    for (auto& ref : found) {
      if (!only.empty() && std::find(only.begin(), only.end(), ref.id) == only.end()) continue;
      if (!ids.insert(ref.id).second)
        throw DataError(path + ": duplicate subject id '" + ref.id +
                        "' (ids must be unique across the inputs)");
      refs.push_back(ref);
    }
  }
  for (const auto& id : only)
    if (!ids.count(id))
      throw ConfigError("data.subjects: subject '" + id + "' not found in the inputs");
  return refs;
}

namespace {

// y as 0/1 doubles: integer or integral float, {0,1} or exactly {1,2}.
Eigen::VectorXd read_choices(const io::H5File& file, const std::string& path, bool& recoded) {
  const auto info = file.info(path);
  const std::string where = file.path() + ":" + path;
  if (info.shape.size() != 1)
    throw DataError(where + ": expected (N,) integer choices, found " + info.describe());
  if (info.element != io::ElementClass::kInteger && info.element != io::ElementClass::kFloat)
    throw DataError(where + ": expected (N,) integer choices, found " + info.describe());
  Eigen::VectorXd y = file.read_vector(path);
  bool has0 = false, has1 = false, has2 = false;
  for (Eigen::Index t = 0; t < y.size(); ++t) {
    const double v = y[t];
    if (!std::isfinite(v) || v != std::round(v))
      throw DataError(where + ": expected integral values, found " + std::to_string(v) +
                      " at index " + std::to_string(t));
    if (v == 0) has0 = true;
    else if (v == 1) has1 = true;
    else if (v == 2) has2 = true;
    else
      throw DataError(where + ": expected values in {0, 1}, found " + std::to_string(int64_t(v)) +
                      " at index " + std::to_string(t));
  }
  recoded = false;
  if (has2) {
    if (has0) {
      for (Eigen::Index t = 0; t < y.size(); ++t)
        if (y[t] == 2)
          throw DataError(where + ": expected values in {0, 1} (or exactly {1, 2}), found 2 at index " +
                          std::to_string(t));
    }
    y.array() -= 1.0;  // psytrack's {1, 2} coding
    recoded = true;
  }
  (void)has1;
  return y;
}

}  // namespace

Subject load_subject(const SubjectRef& ref, const Settings& settings) {
  const io::H5File file = io::H5File::open(ref.file);
  Subject s;
  s.ref = ref;
  const std::string y_path = subject_path(ref, "y");
  bool recoded = false;
  Eigen::VectorXd y_all = read_choices(file, y_path, recoded);
  const int64_t n = y_all.size();
  s.n_untrimmed = n;

  // Weight spec: config, else the `weights` attribute (group first, then root).
  if (settings.weights) {
    s.weights = *settings.weights;
  } else {
    const std::string object = ref.group.empty() ? "/" : "/" + ref.group;
    std::string attr_object;
    if (file.has_attribute(object, "weights")) attr_object = object;
    else if (file.has_attribute("/", "weights")) attr_object = "/";
    if (attr_object.empty())
      throw ConfigError("weights: null in the configuration and " + ref.file +
                        " has no root attribute 'weights'; set weights: {name: columns}");
    const std::string text = file.read_attribute_string(attr_object, "weights");
    YAML::Node node;
    try {
      node = YAML::Load(text);
    } catch (const YAML::Exception&) {
      throw DataError(ref.file + ":" + attr_object + " attribute 'weights': expected a JSON object, found '" + text + "'");
    }
    if (!node.IsMap())
      throw DataError(ref.file + ":" + attr_object + " attribute 'weights': expected a JSON object, found '" + text + "'");
    s.weights = parse_weight_spec(node, ref.file + " attribute 'weights'", true);
  }

  // dayLength (before trim).
  std::vector<int64_t> day_length;
  const std::string day_path = subject_path(ref, "dayLength");
  if (file.exists(day_path)) {
    const auto info = file.info(day_path);
    if (info.element != io::ElementClass::kInteger && info.element != io::ElementClass::kFloat)
      throw DataError(ref.file + ":" + day_path + ": expected (S,) integers, found " + info.describe());
    day_length = file.read_int_vector(day_path);
    int64_t sum = 0;
    for (size_t i = 0; i < day_length.size(); ++i) {
      if (day_length[i] <= 0)
        throw DataError(ref.file + ":" + day_path + ": expected entries > 0, found " +
                        std::to_string(day_length[i]) + " at index " + std::to_string(i));
      sum += day_length[i];
    }
    if (sum != n)
      throw DataError(ref.file + ":" + day_path + ": sessions sum to " + std::to_string(sum) +
                      " trials, expected N = " + std::to_string(n) + " (length of " + y_path + ")");
  }

  // Trim as psytrack's trim(START, END).
  int64_t start = settings.start, end = settings.end;
  if (end == 0) end = n;
  else if (end < 0) end += n;
  if (start < 0) start += n;
  if (start < 0 || start >= n || end > n || end <= 0)
    throw ConfigError("data.start/data.end: [" + std::to_string(settings.start) + ", " +
                      std::to_string(settings.end) + ") is out of range for N = " + std::to_string(n));
  if (start >= end)
    throw ConfigError("data.start/data.end: start " + std::to_string(start) + " >= end " +
                      std::to_string(end) + " after resolving against N = " + std::to_string(n));
  const int64_t nt = end - start;
  if (nt < 2)
    throw DataError(ref.file + ":" + y_path + ": N = " + std::to_string(nt) +
                    " trials after trim, expected at least 2");
  s.trim_start = start;
  s.trim_end = end;
  if (!day_length.empty()) {
    int64_t offset = 0;
    for (int64_t len : day_length) {
      const int64_t lo = std::max(offset, start), hi = std::min(offset + len, end);
      if (hi > lo) s.data.day_length.push_back(hi - lo);
      offset += len;
    }
  }

  s.data.y = y_all.segment(start, nt);
  const double ones = s.data.y.sum();
  if (ones == 0 || ones == static_cast<double>(nt))
    throw DataError(ref.file + ":" + y_path + ": all " + std::to_string(nt) + " trials (after trim) are " +
                    (ones == 0 ? "0" : "1") + "; a fit needs both choices");

  // Design matrix in weight-spec order.
  int k = 0;
  for (const auto& [name, m] : s.weights) k += m;
  s.data.g.resize(nt, k);
  int col = 0;
  for (const auto& [name, m] : s.weights) {
    if (m == 0) continue;
    if (name == "bias") {
      s.data.g.col(col++).setOnes();
      continue;
    }
    const std::string path = subject_path(ref, "inputs/" + name);
    if (!file.is_dataset(path))
      throw DataError(ref.file + ":" + path + ": dataset not found (needed by weight '" + name + "')");
    const auto info = file.info(path);
    if (info.element != io::ElementClass::kInteger && info.element != io::ElementClass::kFloat)
      throw DataError(ref.file + ":" + path + ": expected numeric (N,) or (N, M), found " + info.describe());
    const io::RowMatrixXd x = file.read_columns(path);
    if (x.rows() != n)
      throw DataError(ref.file + ":" + path + ": " + std::to_string(x.rows()) +
                      " rows, expected N = " + std::to_string(n) + " (length of " + y_path + ")");
    if (m > x.cols())
      throw DataError(ref.file + ":" + path + ": weight '" + name + "' uses " + std::to_string(m) +
                      " columns, found " + std::to_string(x.cols()));
    for (int j = 0; j < m; ++j) {
      for (int64_t t = 0; t < nt; ++t) {
        const double v = x(start + t, j);
        if (!std::isfinite(v))
          throw DataError(ref.file + ":" + path + ": non-finite value " + std::to_string(v) +
                          " at row " + std::to_string(start + t) + ", column " + std::to_string(j));
        s.data.g(t, col) = v;
      }
      ++col;
    }
  }
  s.data.weight_names = weight_labels(s.weights);
  s.layout = TrialLayout::from_day_length(static_cast<int>(nt), s.data.day_length);
  s.hyper_init = resolve_hyper(settings, file, ref.group, k, s.layout.has_sessions());
  s.y_recoded = recoded;
  return s;
}

}  // namespace effinfer::psytrack
