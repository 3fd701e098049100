// Reading subjects from input HDF5 files (spec 3.3) with every check of spec section 6: each
// problem is a DataError (65) naming the file, the HDF5 path, what was expected and what was found.
#pragma once

#include <string>
#include <vector>

#include "model.hpp"
#include "settings.hpp"

namespace effinfer::psytrack {

// One subject: the root of a file (when /y exists) or a top-level group holding `y`.
struct SubjectRef {
  std::string file;
  std::string group;  // empty = root
  std::string id;     // root attribute `subject`, else file stem, or the group name
};

// Subjects in command-line file order, groups by name within a file. `only` keeps those ids
// (ConfigError if one is missing). DataError on a file without subjects or duplicate ids.
std::vector<SubjectRef> list_subjects(const std::vector<std::string>& files,
                                      const std::vector<std::string>& only);

struct Subject {
  SubjectRef ref;
  Dataset data;  // after weight selection and trim
  TrialLayout layout;
  WeightSpec weights;
  int64_t trim_start = 0, trim_end = 0;  // [start, end) in the untrimmed trials
  int64_t n_untrimmed = 0;
  Hyper hyper_init;
  bool y_recoded = false;  // the input used psytrack's {1, 2} coding
};

// Loads, validates and trims one subject; resolves its initial hypers.
Subject load_subject(const SubjectRef& ref, const Settings& settings);

// Path of a dataset of the subject (`/name` at the root or `/<group>/name`).
std::string subject_path(const SubjectRef& ref, const std::string& name);

}  // namespace effinfer::psytrack
